// `serve` settings: flags, their EXPORTER_INJECTOR_* environment equivalents and defaults,
// checked once at start-up into a frozen object. Every problem is reported in one error so a
// user fixing a Deployment does not discover them one restart at a time.
import { statSync } from 'node:fs';
import { parseFlags, type CommandSpec, type Flag, type Parsed } from './flags.js';
import { DEFAULT_IGNORED_NAMESPACES } from '../core/defaults.js';
import { isUrlPath } from '../core/values.js';
import type { RunAsUserMode } from '../core/types.js';
import { InjectorError } from '../errors.js';
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from '../server/connection-limits.js';
import { DEFAULT_CIPHER_SUITES, cipherSuitesProblem } from '../tls/ciphers.js';
import { CORE_FLAGS, parseIgnoredNamespaces, type SidecarModeSetting } from './core-settings.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type { SidecarModeSetting } from './core-settings.js';

export interface ServeConfig {
  readonly port: number;
  readonly healthPort: number;
  /** undefined: every interface (`::` where the host has IPv6, else 0.0.0.0). */
  readonly host: string | undefined;
  readonly path: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly templatesDir: string | undefined;
  readonly logLevel: LogLevel;
  readonly ignoredNamespaces: readonly string[];
  readonly sidecarMode: SidecarModeSetting;
  /** `omit` for OpenShift (restricted-v2 SCC): see RunAsUserMode. */
  readonly runAsUser: RunAsUserMode;
  readonly bodyLimitBytes: number;
  readonly drainTimeoutSeconds: number;
  readonly shutdownDelaySeconds: number;
  /** How often watched files are compared even when no file event arrived. */
  readonly watchIntervalSeconds: number;
  readonly dev: boolean;
  /** Connection hardening (docs/reliability.md): suites offered, timeouts, connection cap. */
  readonly cipherSuites: readonly string[];
  readonly connectionLimits: ConnectionLimits;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const MIB = 1024 * 1024;

/**
 * The API server refuses request bodies over 3 MiB, so no object it admits is larger than that.
 * A review carries the object and, for UPDATE, the old object too, each re-encoded as JSON,
 * plus userInfo and options: 2 × 3 MiB + 1 MiB of envelope and encoding headroom.
 */
export const DEFAULT_BODY_LIMIT = 7 * MIB;

export const DEFAULTS = Object.freeze({
  port: 8443,
  healthPort: 8080,
  path: '/mutate',
  tlsCert: 'certs/tls.crt',
  tlsKey: 'certs/tls.key',
  logLevel: 'info' as LogLevel,
  ignoredNamespaces: DEFAULT_IGNORED_NAMESPACES,
  sidecarMode: 'auto' as SidecarModeSetting,
  bodyLimitBytes: DEFAULT_BODY_LIMIT,
  // Below the default terminationGracePeriodSeconds (30), so the kubelet never has to SIGKILL.
  drainTimeoutSeconds: 25,
  // 0 for `npm start`; the Deployment sets 5 (see deploy/base/deployment.yaml).
  shutdownDelaySeconds: 0,
  watchIntervalSeconds: 10,
});

interface FlagSpec {
  readonly flag: string;
  readonly env: string;
  readonly type: 'string' | 'boolean';
  readonly value: string;
  readonly help: string;
}

/** One table drives parsing, the environment names and --help, so they cannot drift apart. */
export const SERVE_FLAGS: readonly FlagSpec[] = [
  { flag: 'port', env: 'EXPORTER_INJECTOR_PORT', type: 'string', value: String(DEFAULTS.port), help: 'HTTPS port for the webhook' },
  { flag: 'health-port', env: 'EXPORTER_INJECTOR_HEALTH_PORT', type: 'string', value: String(DEFAULTS.healthPort), help: 'plain-HTTP port for /healthz, /readyz, /metrics' },
  { flag: 'host', env: 'EXPORTER_INJECTOR_HOST', type: 'string', value: ':: or 0.0.0.0', help: 'address both servers listen on' },
  { flag: 'path', env: 'EXPORTER_INJECTOR_PATH', type: 'string', value: DEFAULTS.path, help: 'URL path of the webhook' },
  { flag: 'tls-cert', env: 'EXPORTER_INJECTOR_TLS_CERT', type: 'string', value: DEFAULTS.tlsCert, help: 'serving certificate (PEM); reloaded when it changes' },
  { flag: 'tls-key', env: 'EXPORTER_INJECTOR_TLS_KEY', type: 'string', value: DEFAULTS.tlsKey, help: 'its private key (PEM); reloaded when it changes' },
  { flag: 'log-level', env: 'EXPORTER_INJECTOR_LOG_LEVEL', type: 'string', value: DEFAULTS.logLevel, help: LOG_LEVELS.join('|') },
  { flag: 'body-limit', env: 'EXPORTER_INJECTOR_BODY_LIMIT', type: 'string', value: '7Mi', help: 'largest request body accepted: bytes, or with a Ki/Mi suffix' },
  { flag: 'drain-timeout', env: 'EXPORTER_INJECTOR_DRAIN_TIMEOUT', type: 'string', value: String(DEFAULTS.drainTimeoutSeconds), help: 'seconds to finish in-flight requests after SIGTERM before exiting' },
  { flag: 'shutdown-delay', env: 'EXPORTER_INJECTOR_SHUTDOWN_DELAY', type: 'string', value: String(DEFAULTS.shutdownDelaySeconds), help: 'seconds to keep accepting requests after SIGTERM (readiness already false) before draining, so endpoint removal reaches the API server first' },
  { flag: 'watch-interval', env: 'EXPORTER_INJECTOR_WATCH_INTERVAL', type: 'string', value: String(DEFAULTS.watchIntervalSeconds), help: 'seconds between checks of the certificate and templates when no file event arrives' },
  // Connection hardening (docs/reliability.md).
  { flag: 'tls-cipher-suites', env: 'EXPORTER_INJECTOR_TLS_CIPHER_SUITES', type: 'string', value: 'Mozilla intermediate (ECDHE + AES-GCM/ChaCha20-Poly1305, TLS 1.3)', help: 'comma list of OpenSSL cipher suite names offered (TLS 1.2 and 1.3)' },
  { flag: 'handshake-timeout', env: 'EXPORTER_INJECTOR_HANDSHAKE_TIMEOUT', type: 'string', value: String(DEFAULT_CONNECTION_LIMITS.handshakeTimeoutSeconds), help: 'seconds a client has to finish the TLS handshake' },
  { flag: 'headers-timeout', env: 'EXPORTER_INJECTOR_HEADERS_TIMEOUT', type: 'string', value: String(DEFAULT_CONNECTION_LIMITS.headersTimeoutSeconds), help: 'seconds a client has to send the request headers' },
  { flag: 'request-timeout', env: 'EXPORTER_INJECTOR_REQUEST_TIMEOUT', type: 'string', value: String(DEFAULT_CONNECTION_LIMITS.requestTimeoutSeconds), help: 'seconds a client has to send the whole request (at least --headers-timeout)' },
  { flag: 'keep-alive-timeout', env: 'EXPORTER_INJECTOR_KEEP_ALIVE_TIMEOUT', type: 'string', value: String(DEFAULT_CONNECTION_LIMITS.keepAliveTimeoutSeconds), help: 'seconds an idle keep-alive connection stays open (keep it above the API server\'s 90)' },
  { flag: 'max-connections', env: 'EXPORTER_INJECTOR_MAX_CONNECTIONS', type: 'string', value: String(DEFAULT_CONNECTION_LIMITS.maxConnections), help: 'connections held at once on the webhook port; more are closed on accept (0: no limit)' },
  { flag: 'dev', env: 'EXPORTER_INJECTOR_DEV', type: 'boolean', value: 'false', help: 'create development certificates in certs/ if absent and print how to try the webhook' },
];

/** serve's command line: the shared core flags, then serve's own. */
export const SERVE_SPEC = {
  name: 'serve',
  summary: 'run the TLS admission webhook',
  usage: '[flags]',
  description: [
    'Runs the admission webhook: POST <path> over HTTPS; /healthz, /readyz and /metrics over plain HTTP.',
    'A flag wins over its environment variable, which wins over the default.',
  ].join('\n'),
  flags: {
    ...CORE_FLAGS,
    ...(Object.fromEntries(
      SERVE_FLAGS.map((f) => [f.flag, { type: f.type, env: f.env, help: f.help, ...(f.type === 'string' ? { value: 'VALUE', shownDefault: f.value } : {}) } satisfies Flag]),
    ) as Record<string, Flag>),
  },
  examples: ['exporter-injector serve --dev', 'exporter-injector serve --tls-cert /tls/tls.crt --tls-key /tls/tls.key --templates /templates'],
  exits: { 1: 'the webhook could not start (a port, the certificate, the templates) or failed', 3: 'the certificate or the templates directory cannot be read' },
} as const satisfies CommandSpec;

/** What the configuration check may ask of the file system (tests substitute it). */
export interface FileProbe {
  kind(path: string): 'file' | 'directory' | 'missing' | 'other';
}

export const realFileProbe: FileProbe = {
  kind(path) {
    try {
      const st = statSync(path);
      return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other';
    } catch {
      return 'missing';
    }
  },
};

export function parseServeConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  probe: FileProbe = realFileProbe,
): ServeConfig {
  return serveConfigFrom(parseFlags(SERVE_SPEC, argv, env), probe);
}

/** Checks every setting of a parsed command line at once, into a frozen config. */
export function serveConfigFrom(parsed: Parsed<typeof SERVE_SPEC.flags>, probe: FileProbe = realFileProbe): ServeConfig {
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const sources = parsed.sources as Record<string, string | undefined>;
  const problems: string[] = [...parsed.problems];
  /** The raw setting and where it came from, for messages that point at what to fix. */
  const raw = (flag: string): { value: string; source: string } | undefined => {
    const source = sources[flag];
    return source === undefined ? undefined : { value: String(values[flag]), source };
  };

  const port = portSetting(raw('port'), DEFAULTS.port, problems);
  const healthPort = portSetting(raw('health-port'), DEFAULTS.healthPort, problems);
  if (port !== 0 && port === healthPort) {
    problems.push(`--port and --health-port are both ${port}; give them different ports (defaults ${DEFAULTS.port} and ${DEFAULTS.healthPort})`);
  }

  let host: string | undefined;
  const hostRaw = raw('host');
  if (hostRaw !== undefined) {
    if (hostRaw.value === '' || /\s/.test(hostRaw.value)) {
      problems.push(`${hostRaw.source} "${hostRaw.value}": want an address or host name such as ::, 0.0.0.0 or 127.0.0.1`);
    } else host = hostRaw.value;
  }

  let path: string = DEFAULTS.path;
  const pathRaw = raw('path');
  if (pathRaw !== undefined) {
    if (!isUrlPath(pathRaw.value)) {
      problems.push(`${pathRaw.source} "${pathRaw.value}": want an absolute URL path without query, such as /mutate`);
    } else path = pathRaw.value;
  }

  const dev = booleanSetting(raw('dev'), problems);

  const tlsCert = raw('tls-cert')?.value ?? DEFAULTS.tlsCert;
  const tlsKey = raw('tls-key')?.value ?? DEFAULTS.tlsKey;
  for (const [flag, file] of [['tls-cert', tlsCert], ['tls-key', tlsKey]] as const) {
    const source = raw(flag)?.source ?? `--${flag} (default)`;
    if (file === '') {
      problems.push(`${source} is empty: want a PEM file path`);
      continue;
    }
    const kind = probe.kind(file);
    // --dev creates missing development certificates, so only a wrong kind of path is a problem then.
    if (kind === 'missing' && !dev) {
      problems.push(`${source} ${file}: file not found; create certificates with "exporter-injector certs", or run with --dev`);
    } else if (kind !== 'missing' && kind !== 'file') {
      problems.push(`${source} ${file}: not a regular file; want a PEM file`);
    }
  }

  let templatesDir: string | undefined;
  const templatesRaw = raw('templates');
  if (templatesRaw !== undefined && templatesRaw.value !== '') {
    const kind = probe.kind(templatesRaw.value);
    if (kind !== 'directory') {
      problems.push(`${templatesRaw.source} ${templatesRaw.value}: ${kind === 'missing' ? 'not found' : 'not a directory'}; want a directory of template YAML files`);
    } else templatesDir = templatesRaw.value;
  }

  const logLevel = choiceSetting(raw('log-level'), LOG_LEVELS, DEFAULTS.logLevel, problems);
  // Choices were checked by the flag parser.
  const sidecarMode = parsed.values['sidecar-mode'];
  const runAsUser = parsed.values['run-as-user'];

  let ignoredNamespaces: readonly string[] = DEFAULTS.ignoredNamespaces;
  const nsRaw = raw('ignored-namespaces');
  if (nsRaw !== undefined) {
    const parsedNames = parseIgnoredNamespaces(nsRaw.value, nsRaw.source);
    if ('problem' in parsedNames) problems.push(parsedNames.problem);
    else ignoredNamespaces = parsedNames.names;
  }

  let bodyLimitBytes = DEFAULTS.bodyLimitBytes;
  const limitRaw = raw('body-limit');
  if (limitRaw !== undefined) {
    const m = /^([0-9]+)(Ki|Mi)?$/.exec(limitRaw.value);
    const bytes = m ? Number(m[1]) * (m[2] === 'Mi' ? MIB : m[2] === 'Ki' ? 1024 : 1) : NaN;
    // Under the API server's own 3 MiB a legitimate review could be refused; over 64 MiB is a typo.
    if (!Number.isSafeInteger(bytes) || bytes < 3 * MIB || bytes > 64 * MIB) {
      problems.push(`${limitRaw.source} "${limitRaw.value}": want a size from 3Mi to 64Mi, such as 7Mi or 7340032 (bytes)`);
    } else bodyLimitBytes = bytes;
  }

  const drainTimeoutSeconds = secondsSetting(raw('drain-timeout'), DEFAULTS.drainTimeoutSeconds, 1, 3600, problems);
  const shutdownDelaySeconds = secondsSetting(raw('shutdown-delay'), DEFAULTS.shutdownDelaySeconds, 0, 300, problems);
  const watchIntervalSeconds = secondsSetting(raw('watch-interval'), DEFAULTS.watchIntervalSeconds, 0.1, 3600, problems);

  // Connection hardening (docs/reliability.md).
  let cipherSuites = DEFAULT_CIPHER_SUITES;
  const ciphersRaw = raw('tls-cipher-suites');
  if (ciphersRaw !== undefined) {
    const suites = ciphersRaw.value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const why = cipherSuitesProblem(suites);
    if (why !== undefined) problems.push(`${ciphersRaw.source} "${ciphersRaw.value}": ${why}; want a comma list of OpenSSL names such as ${DEFAULT_CIPHER_SUITES.slice(3, 5).join(',')}`);
    else cipherSuites = Object.freeze(suites);
  }
  const limits = DEFAULT_CONNECTION_LIMITS;
  let maxConnections = limits.maxConnections;
  const maxRaw = raw('max-connections');
  if (maxRaw !== undefined) {
    if (/^[0-9]{1,7}$/.test(maxRaw.value)) maxConnections = Number(maxRaw.value);
    else problems.push(`${maxRaw.source} "${maxRaw.value}": want a whole number of connections such as ${limits.maxConnections} (0: no limit)`);
  }
  const connectionLimits: ConnectionLimits = Object.freeze({
    handshakeTimeoutSeconds: secondsSetting(raw('handshake-timeout'), limits.handshakeTimeoutSeconds, 0.1, 300, problems),
    headersTimeoutSeconds: secondsSetting(raw('headers-timeout'), limits.headersTimeoutSeconds, 0.1, 300, problems),
    requestTimeoutSeconds: secondsSetting(raw('request-timeout'), limits.requestTimeoutSeconds, 0.1, 300, problems),
    keepAliveTimeoutSeconds: secondsSetting(raw('keep-alive-timeout'), limits.keepAliveTimeoutSeconds, 0.1, 3600, problems),
    maxConnections,
  });
  if (connectionLimits.headersTimeoutSeconds > connectionLimits.requestTimeoutSeconds) {
    problems.push(`--headers-timeout ${connectionLimits.headersTimeoutSeconds} is longer than --request-timeout ${connectionLimits.requestTimeoutSeconds}; the request timeout includes the headers`);
  }

  if (problems.length > 0) {
    throw new InjectorError(
      'EI_ERR_CONFIG_INVALID',
      `serve: ${problems.length === 1 ? 'a setting is' : `${problems.length} settings are`} invalid`,
      { details: problems },
    );
  }

  return Object.freeze({
    port,
    healthPort,
    host,
    path,
    tlsCert,
    tlsKey,
    templatesDir,
    logLevel,
    ignoredNamespaces,
    sidecarMode,
    runAsUser,
    bodyLimitBytes,
    drainTimeoutSeconds,
    shutdownDelaySeconds,
    watchIntervalSeconds,
    dev,
    cipherSuites,
    connectionLimits,
  });
}

function portSetting(r: { value: string; source: string } | undefined, fallback: number, problems: string[]): number {
  if (r === undefined) return fallback;
  const n = /^[0-9]{1,5}$/.test(r.value) ? Number(r.value) : NaN;
  if (!(n >= 0 && n <= 65535)) {
    problems.push(`${r.source} "${r.value}": want a port number from 1 to 65535 (0 picks a free port)`);
    return fallback;
  }
  return n;
}

function booleanSetting(r: { value: string; source: string } | undefined, problems: string[]): boolean {
  if (r === undefined) return false;
  const v = r.value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0' || v === '') return false;
  problems.push(`${r.source} "${r.value}": want true or false`);
  return false;
}

function choiceSetting<T extends string>(
  r: { value: string; source: string } | undefined,
  valid: readonly T[],
  fallback: T,
  problems: string[],
): T {
  if (r === undefined) return fallback;
  if ((valid as readonly string[]).includes(r.value)) return r.value as T;
  problems.push(`${r.source} "${r.value}": want one of ${valid.join(', ')}`);
  return fallback;
}

function secondsSetting(
  r: { value: string; source: string } | undefined,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  if (r === undefined) return fallback;
  const n = /^[0-9]+(\.[0-9]+)?$/.test(r.value) ? Number(r.value) : NaN;
  if (!(n >= min && n <= max)) {
    problems.push(`${r.source} "${r.value}": want a number of seconds from ${min} to ${max}`);
    return fallback;
  }
  return n;
}

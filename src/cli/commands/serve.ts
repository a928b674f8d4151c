// `exporter-injector serve`: validates the settings, resolves the sidecar default, starts the
// webhook, and turns SIGTERM/SIGINT into a bounded drain followed by exit.
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { basename, dirname, join, relative } from 'node:path';
import type { Logger } from 'pino';
import { SERVE_SPEC, serveConfigFrom, type ServeConfig } from '../../config/serve-config.js';
import type { SidecarMode } from '../../core/types.js';
import { InjectorError } from '../../errors.js';
import { detectDefaultSidecarMode } from '../../kube/cluster-version.js';
import { createLogger } from '../../server/logger.js';
import { startWebhook, type RunningWebhook } from '../../server/runtime.js';
import { ensureDevCertificates, TLS_FILES } from '../../tls/files.js';
import { PACKAGE_ROOT } from '../../package-info.js';
import { defineCommand } from '../command.js';
import { EXIT } from '../io.js';

/** The example review the package ships, for the --dev self-check and hint, wherever serve runs from. */
const EXAMPLE_REVIEW_FILE = join(PACKAGE_ROOT, 'deploy/examples/review-redis.json');
/** As the hint prints it: relative to where the user stands when that is shorter. */
export const EXAMPLE_REVIEW = ((rel) => (rel.startsWith('..') ? EXAMPLE_REVIEW_FILE : rel))(relative(process.cwd(), EXAMPLE_REVIEW_FILE));

export const serve = defineCommand(SERVE_SPEC, async (parsed, io) => {
  const config = serveConfigFrom(parsed);
  const logger = createLogger(config.logLevel);

  if (config.dev) await ensureDevPair(config, logger);
  const sidecarMode = await resolveSidecarMode(config, logger);
  const webhook = await startWebhook({ config, logger, sidecarMode });
  // Before "serving" is announced: a SIGTERM sent as soon as it appears (and /readyz turns 200
  // just before it) must drain, not kill the process with the default signal action.
  handleSignals(webhook, logger);

  logger.info(
    {
      httpsPort: webhook.httpsPort,
      healthPort: webhook.healthPort,
      path: config.path,
      host: config.host ?? 'all interfaces',
      sidecarMode,
      ignoredNamespaces: config.ignoredNamespaces,
      bodyLimitBytes: config.bodyLimitBytes,
    },
    'serving',
  );
  if (config.dev) {
    io.stderr(devHint(config, webhook));
    io.stderr(await devSelfCheck(config, webhook));
  }
  return EXIT.OK;
}, { reportsProblems: true });

async function ensureDevPair(config: ServeConfig, logger: Logger): Promise<void> {
  const dir = dirname(config.tlsCert);
  // ensureDevCertificates writes the Secret's file names; custom names cannot be generated into.
  if (basename(config.tlsCert) !== TLS_FILES.cert || config.tlsKey !== join(dir, TLS_FILES.key)) {
    throw new InjectorError(
      'EI_ERR_CONFIG_INVALID',
      `--dev creates ${TLS_FILES.cert} and ${TLS_FILES.key} in one folder, but --tls-cert is ${config.tlsCert} and --tls-key is ${config.tlsKey}; drop --dev or use DIR/${TLS_FILES.cert} and DIR/${TLS_FILES.key}`,
    );
  }
  const result = await ensureDevCertificates(dir);
  if (result.written.length > 0) logger.info({ written: result.written }, 'created development certificates');
}

async function resolveSidecarMode(config: ServeConfig, logger: Logger): Promise<SidecarMode> {
  if (config.sidecarMode !== 'auto') return config.sidecarMode;
  try {
    const detected = await detectDefaultSidecarMode({ timeoutMs: 5000 });
    if (detected === undefined) {
      logger.info('no cluster credentials to read the Kubernetes version; pods default to native sidecars (--sidecar-mode to choose)');
      return 'native';
    }
    logger.info({ kubernetes: detected.version.gitVersion, sidecarMode: detected.mode }, 'default sidecar mode chosen from the cluster version');
    return detected.mode;
  } catch (e) {
    logger.warn(
      { err: e },
      'cannot read the Kubernetes version; pods default to native sidecars (set --sidecar-mode classic for clusters older than 1.29)',
    );
    return 'native';
  }
}

function handleSignals(webhook: RunningWebhook, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second signal (Ctrl-C twice) means "now".
      logger.warn({ signal }, 'second signal; exiting without waiting');
      logger.flush();
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'signal received');
    webhook.shutdown().then(
      () => exitAfterFlush(logger, 0),
      (e: unknown) => {
        logger.error({ err: e }, 'shutdown failed');
        exitAfterFlush(logger, 1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

// Exit explicitly: a watcher, a keep-alive client socket or the kube client must not stretch
// shutdown past the drain bound the operator configured.
function exitAfterFlush(logger: Logger, code: number): void {
  logger.flush(() => process.exit(code));
}

/**
 * `npm start` shows the webhook working: the example review goes through the real TLS listener,
 * trusting only the development CA, and the answer is summarised.
 */
async function devSelfCheck(config: ServeConfig, webhook: RunningWebhook): Promise<string> {
  try {
    const [ca, body] = await Promise.all([readFile(join(dirname(config.tlsCert), TLS_FILES.caCert)), readFile(EXAMPLE_REVIEW_FILE)]);
    const answer = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        { host: 'localhost', port: webhook.httpsPort, path: `${config.path}?timeout=10s`, method: 'POST', ca, headers: { 'content-type': 'application/json' }, timeout: 5000 },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 5 s'))).on('error', reject).end(body);
    });
    const { response } = JSON.parse(answer) as { response: { allowed: boolean; patch?: string } };
    const patch = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8') || '[]') as { path: string; value?: { name?: string }[] }[];
    const added = patch.flatMap((op) => (op.path.startsWith('/spec/initContainers') ? [op.value].flat() : [])).map((c) => (c as { name?: string }).name);
    return `self-check: POST ${config.path} with ${EXAMPLE_REVIEW} -> allowed=${response.allowed}, ${patch.length} patch operations, sidecar ${added.join(', ') || 'none'}\n\n`;
  } catch (e) {
    return `self-check failed: ${e instanceof Error ? e.message : String(e)}\n\n`;
  }
}

function devHint(config: ServeConfig, webhook: RunningWebhook): string {
  const caCert = join(dirname(config.tlsCert), TLS_FILES.caCert);
  const url = `https://localhost:${webhook.httpsPort}${config.path}`;
  return [
    '',
    `exporter-injector is serving ${url} (development certificates in ${dirname(config.tlsCert)}/).`,
    'Try it with the example review (a redis Pod that opts in):',
    '',
    `  curl -sS --cacert ${caCert} -H 'Content-Type: application/json' \\`,
    `    --data-binary @${EXAMPLE_REVIEW} ${url}`,
    '',
    'Decode the JSON patch it answers with (needs jq):',
    '',
    `  curl -sS --cacert ${caCert} -H 'Content-Type: application/json' \\`,
    `    --data-binary @${EXAMPLE_REVIEW} ${url} | jq -r .response.patch | base64 -d | jq .`,
    '',
    'The same answer without a server:',
    '',
    `  npm run -s cli -- review -f ${EXAMPLE_REVIEW}`,
    '',
    `Health: http://localhost:${webhook.healthPort}/readyz   Metrics: http://localhost:${webhook.healthPort}/metrics`,
    '',
  ].join('\n');
}

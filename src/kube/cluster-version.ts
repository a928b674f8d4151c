// kube edge: reads the API server's /version to pick the default sidecar mode (native needs Kubernetes >= 1.29).
// One plain GET with node:http(s), so serve never loads the Kubernetes client in a pod: with the
// service account token and CA there, and through the client only for a kubeconfig (a developer's
// machine, where exec plugins and auth providers need it). The client costs ~80 MiB of resident
// memory for the life of the process; in a pod that is most of the webhook's footprint.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { SidecarMode } from '../core/types.js';
import { InjectorError } from '../errors.js';
import { kubeconfigFiles, SERVICE_ACCOUNT_TOKEN, type CredentialOptions } from './credential-sources.js';

export interface ClusterVersion {
  readonly major: number;
  readonly minor: number;
  /** As the server reports it, e.g. `v1.28.3-eks-4f4795d`. */
  readonly gitVersion: string;
}

/** Restartable init containers (native sidecars) are on by default from 1.29 (beta, KEP-753). */
export const NATIVE_SIDECAR_SINCE = Object.freeze({ major: 1, minor: 29 });
const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Parses /version. Managed clusters report minor as "28+"; some report empty major/minor, so
 * gitVersion (`v1.28.3-...`) is the fallback. Undefined when neither parses.
 */
export function parseClusterVersion(info: { major?: string; minor?: string; gitVersion?: string }): ClusterVersion | undefined {
  const gitVersion = info.gitVersion ?? '';
  const major = leadingInt(info.major);
  const minor = leadingInt(info.minor);
  if (major !== undefined && minor !== undefined) return { major, minor, gitVersion };
  const m = /^v?(\d+)\.(\d+)/.exec(gitVersion);
  return m ? { major: Number(m[1]), minor: Number(m[2]), gitVersion } : undefined;
}

export function sidecarModeFor(version: ClusterVersion): SidecarMode {
  const atLeast =
    version.major > NATIVE_SIDECAR_SINCE.major || (version.major === NATIVE_SIDECAR_SINCE.major && version.minor >= NATIVE_SIDECAR_SINCE.minor);
  return atLeast ? 'native' : 'classic';
}

/** Where /version is read from: the server's base URL, and the TLS and auth options to reach it. */
export interface VersionEndpoint {
  readonly server: string;
  readonly options: RequestOptions & { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
}

/**
 * GET /version, from an endpoint or through a KubeConfig the caller already loaded (register);
 * throws EI_ERR_KUBE_API when the call fails or the answer has no version in it.
 */
export async function readClusterVersion(from: VersionEndpoint | KubeConfig, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ClusterVersion> {
  const endpoint = 'applyToHTTPSOptions' in from ? await endpointOf(from) : from;
  const what = `read /version at ${endpoint.server}`;
  let text: string;
  let status: number;
  try {
    ({ status, text } = await get(`${endpoint.server.replace(/\/+$/, '')}/version`, endpoint.options, timeoutMs));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const detail = err.name === 'AbortError' || err.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : err.code ? `${err.message} (${err.code})` : err.message;
    throw new InjectorError('EI_ERR_KUBE_API', `cannot ${what}: ${detail}`, { cause: e });
  }
  let info: { major?: string; minor?: string; gitVersion?: string; message?: string } = {};
  try {
    info = JSON.parse(text) as typeof info;
  } catch {
    // not JSON: reported below with the status
  }
  if (status < 200 || status > 299) {
    const message = typeof info.message === 'string' ? info.message : status === 401 ? 'Unauthorized (the credentials were rejected)' : text.trim().slice(0, 300) || 'no message';
    throw new InjectorError('EI_ERR_KUBE_API', `cannot ${what}: HTTP ${status}: ${message}`);
  }
  const version = parseClusterVersion(info);
  if (!version) {
    throw new InjectorError('EI_ERR_KUBE_API', `cannot ${what}: no version in major "${info.major}", minor "${info.minor}", gitVersion "${info.gitVersion}"`);
  }
  return version;
}

function get(url: string, options: VersionEndpoint['options'], timeoutMs: number): Promise<{ status: number; text: string }> {
  const send = url.startsWith('http:') ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    // A hung API server must not hold up serve's start-up.
    const req = send(url, { ...options, method: 'GET', headers: { ...options.headers, Accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) }, (res: IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk.length + text.length > 1 << 20 ? '' : chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The pod's own credentials: KUBERNETES_SERVICE_HOST/PORT, the projected service account token
 * and the cluster CA beside it (re-read at each call: the kubelet rotates the token).
 */
async function inClusterEndpoint(env: Readonly<Record<string, string | undefined>>, tokenPath: string): Promise<VersionEndpoint> {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  const [token, ca] = await Promise.all([readFile(tokenPath, 'utf8'), readFile(join(dirname(tokenPath), 'ca.crt'), 'utf8')]).catch((e: unknown) => {
    throw new InjectorError('EI_ERR_KUBE_API', `cannot read the service account credentials in ${dirname(tokenPath)}: ${(e as Error).message}`, { cause: e });
  });
  return { server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, options: { ca, headers: { Authorization: `Bearer ${token.trim()}` } } };
}

/** A kubeconfig (merged files, contexts, exec plugins, auth providers) needs the Kubernetes client: loaded only then. */
async function kubeconfigEndpoint(options: CredentialOptions): Promise<VersionEndpoint | undefined> {
  const { loadKubeConfig } = await import('./kubeconfig.js');
  const kc = loadKubeConfig(options);
  return kc && endpointOf(kc);
}

async function endpointOf(kc: KubeConfig): Promise<VersionEndpoint> {
  const { serverOf } = await import('./kubeconfig.js');
  const requestOptions: VersionEndpoint['options'] = {};
  await kc.applyToHTTPSOptions(requestOptions);
  return { server: serverOf(kc), options: requestOptions };
}

export interface DetectedSidecarMode {
  readonly mode: SidecarMode;
  readonly version: ClusterVersion;
}

/**
 * The default sidecar mode for this cluster, for serve's start-up. Undefined, quickly and without a network
 * call, when there are no credentials (no kubeconfig, not in a pod); throws EI_ERR_KUBE_API when credentials
 * exist but the call fails, so the caller can log why it kept its configured default. Same precedence as
 * kubectl and loadKubeConfig: --kubeconfig, $KUBECONFIG, ~/.kube/config, then the pod's service account.
 */
export async function detectDefaultSidecarMode(
  options: CredentialOptions & { readonly timeoutMs?: number } = {},
): Promise<DetectedSidecarMode | undefined> {
  const env = options.env ?? process.env;
  const tokenPath = options.serviceAccountTokenPath ?? SERVICE_ACCOUNT_TOKEN;
  let endpoint: VersionEndpoint | undefined;
  if (options.kubeconfig !== undefined || options.context !== undefined || kubeconfigFiles(env).length > 0) endpoint = await kubeconfigEndpoint(options);
  else if (env.KUBERNETES_SERVICE_HOST && existsSync(tokenPath)) endpoint = await inClusterEndpoint(env, tokenPath);
  if (!endpoint) return undefined;
  const version = await readClusterVersion(endpoint, options.timeoutMs);
  return { mode: sidecarModeFor(version), version };
}

function leadingInt(text: string | undefined): number | undefined {
  const m = /^(\d+)/.exec(text ?? '');
  return m ? Number(m[1]) : undefined;
}

// kube edge: reads the API server's /version to pick the default sidecar mode (native needs Kubernetes >= 1.29).
import { Observable, VersionApi, type KubeConfig, type RequestContext, type ResponseContext } from '@kubernetes/client-node';
import type { SidecarMode } from '../core/types.js';
import { InjectorError } from '../errors.js';
import { toKubeError } from './api-error.js';
import { loadKubeConfig, serverOf, type CredentialOptions } from './kubeconfig.js';

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

/** GET /version; throws EI_ERR_KUBE_API when the call fails or the answer has no version in it. */
export async function readClusterVersion(kc: KubeConfig, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ClusterVersion> {
  const api = kc.makeApiClient(VersionApi);
  const what = `read /version at ${serverOf(kc)}`;
  let info;
  try {
    info = await api.getCode({
      middleware: [
        {
          // A hung API server must not hold up serve's start-up.
          pre: (context: RequestContext) => {
            context.setSignal(AbortSignal.timeout(timeoutMs));
            return new Observable(Promise.resolve(context));
          },
          post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
        },
      ],
      middlewareMergeStrategy: 'append',
    });
  } catch (e) {
    throw toKubeError(e, what);
  }
  const version = parseClusterVersion(info);
  if (!version) {
    throw new InjectorError('EI_ERR_KUBE_API', `cannot ${what}: no version in major "${info.major}", minor "${info.minor}", gitVersion "${info.gitVersion}"`);
  }
  return version;
}

export interface DetectedSidecarMode {
  readonly mode: SidecarMode;
  readonly version: ClusterVersion;
}

/**
 * The default sidecar mode for this cluster, for serve's start-up. Undefined, quickly and without a network
 * call, when there are no credentials (no kubeconfig, not in a pod); throws EI_ERR_KUBE_API when credentials
 * exist but the call fails, so the caller can log why it kept its configured default.
 */
export async function detectDefaultSidecarMode(
  options: CredentialOptions & { readonly timeoutMs?: number } = {},
): Promise<DetectedSidecarMode | undefined> {
  const kc = loadKubeConfig(options);
  if (!kc) return undefined;
  const version = await readClusterVersion(kc, options.timeoutMs);
  return { mode: sidecarModeFor(version), version };
}

function leadingInt(text: string | undefined): number | undefined {
  const m = /^(\d+)/.exec(text ?? '');
  return m ? Number(m[1]) : undefined;
}

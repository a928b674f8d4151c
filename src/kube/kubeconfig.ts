// kube edge: finds cluster credentials (a given kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster).
import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { InjectorError } from '../errors.js';
import { kubeconfigFiles, SERVICE_ACCOUNT_TOKEN, type CredentialOptions } from './credential-sources.js';

export type { CredentialOptions } from './credential-sources.js';

/**
 * The KubeConfig to use, or undefined when there are no credentials at all.
 * Unlike KubeConfig.loadFromDefault, never falls back to an unauthenticated http://localhost:8080,
 * so a machine without a cluster gets a quick "no credentials" instead of a connection error.
 */
export function loadKubeConfig(options: CredentialOptions = {}): KubeConfig | undefined {
  const env = options.env ?? process.env;
  const kc = new KubeConfig();
  const files = options.kubeconfig !== undefined ? [options.kubeconfig] : kubeconfigFiles(env);
  try {
    if (files.length > 0) {
      const [first, ...rest] = files as [string, ...string[]];
      kc.loadFromFile(first);
      for (const file of rest) {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more, true);
      }
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(options.serviceAccountTokenPath ?? SERVICE_ACCOUNT_TOKEN)) {
      if (options.context !== undefined) {
        throw new InjectorError('EI_ERR_USAGE', `--context "${options.context}" needs a kubeconfig; running in-cluster has none`);
      }
      kc.loadFromCluster();
      return kc;
    } else {
      if (options.context !== undefined) {
        throw new InjectorError('EI_ERR_USAGE', `--context "${options.context}" given but no kubeconfig found (set --kubeconfig or KUBECONFIG)`);
      }
      return undefined;
    }
  } catch (e) {
    if (e instanceof InjectorError) throw e;
    throw new InjectorError('EI_ERR_INPUT_INVALID', `cannot load kubeconfig ${files.join(delimiter)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (options.context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === options.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new InjectorError('EI_ERR_USAGE', `--context "${options.context}" is not in ${files.join(delimiter)}; contexts: ${known.join(', ') || '(none)'}`);
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new InjectorError('EI_ERR_KUBE_API', `kubeconfig ${files.join(delimiter)} has no current context with a cluster; pass --context`);
  }
  return kc;
}

/** Like loadKubeConfig, but a missing configuration is an error naming where it looked. */
export function requireKubeConfig(options: CredentialOptions = {}, offlineHint = ''): KubeConfig {
  const kc = loadKubeConfig(options);
  if (!kc) {
    throw new InjectorError(
      'EI_ERR_KUBE_API',
      `no cluster credentials: no --kubeconfig, KUBECONFIG is unset, ~/.kube/config does not exist and not running in a pod${offlineHint}`,
    );
  }
  return kc;
}

/** The server URL of the current context, for messages. */
export function serverOf(kc: KubeConfig): string {
  return kc.getCurrentCluster()?.server ?? '(unknown server)';
}

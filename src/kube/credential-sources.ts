// kube edge: where cluster credentials come from (a kubeconfig file, or the pod's service account),
// without loading the Kubernetes client: serve asks this at start-up, and the client library
// (~80 MiB resident) must stay out of a webhook that never needs it afterwards.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface CredentialOptions {
  /** An explicit kubeconfig file (`--kubeconfig`); wins over everything else. */
  readonly kubeconfig?: string | undefined;
  /** A context of that kubeconfig (`--context`); the current context otherwise. */
  readonly context?: string | undefined;
  /** Where KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST are read from (the process's by default). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The service account token file that marks "running in a pod" (overridable for tests); ca.crt sits beside it. */
  readonly serviceAccountTokenPath?: string;
}

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The kubeconfig files kubectl would read: $KUBECONFIG's list, else ~/.kube/config when it exists. */
export function kubeconfigFiles(env: Readonly<Record<string, string | undefined>>): string[] {
  if (env.KUBECONFIG) return env.KUBECONFIG.split(delimiter).filter((f) => f.length > 0);
  const home = env.HOME ?? homedir();
  const file = join(home, '.kube', 'config');
  return existsSync(file) ? [file] : [];
}

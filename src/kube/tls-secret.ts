// kube edge: creates the webhook's TLS Secret when it is missing and returns the CA the webhook must trust.
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { InjectorError } from '../errors.js';
import { TLS_FILES } from '../tls/names.js';
import { httpStatusOf, toKubeError } from './api-error.js';
import { serverOf } from './kubeconfig.js';
import { FIELD_MANAGER } from './register.js';

export interface EnsuredSecret {
  /** `existing`: left untouched (a renewed or user-supplied Secret is never overwritten). */
  readonly action: 'created' | 'existing';
  readonly name: string;
  readonly namespace: string;
  /** The PEM of ca.crt in the Secret now in the cluster. */
  readonly caCert: string;
}

/**
 * Reads Secret `namespace/name`; when absent, creates it from `build()` (called only then, since key
 * generation is the slow part). Two Jobs racing is fine: the loser's 409 re-reads the winner's Secret.
 */
export async function ensureTlsSecret(
  kc: KubeConfig,
  target: { readonly namespace: string; readonly name: string },
  build: () => V1Secret,
): Promise<EnsuredSecret> {
  const api = kc.makeApiClient(CoreV1Api);
  const where = `secrets/${target.name} in namespace ${target.namespace} at ${serverOf(kc)}`;
  const existing = await readSecret(api, target, where);
  if (existing) return { action: 'existing', ...target, caCert: caOf(existing, where) };

  const body = build();
  body.metadata = { ...body.metadata, name: target.name, namespace: target.namespace };
  try {
    const created = await api.createNamespacedSecret({ namespace: target.namespace, body, fieldManager: FIELD_MANAGER });
    return { action: 'created', ...target, caCert: caOf(created, where) };
  } catch (e) {
    if (httpStatusOf(e) !== 409) throw toKubeError(e, `create ${where}`);
  }
  const winner = await readSecret(api, target, where);
  if (!winner) throw new InjectorError('EI_ERR_KUBE_API', `cannot create ${where}: HTTP 409 but it cannot be read back`);
  return { action: 'existing', ...target, caCert: caOf(winner, where) };
}

async function readSecret(api: CoreV1Api, target: { namespace: string; name: string }, where: string): Promise<V1Secret | undefined> {
  try {
    return await api.readNamespacedSecret({ name: target.name, namespace: target.namespace });
  } catch (e) {
    if (httpStatusOf(e) === 404) return undefined;
    throw toKubeError(e, `read ${where}`);
  }
}

function caOf(secret: V1Secret, where: string): string {
  const b64 = secret.data?.[TLS_FILES.caCert];
  const pem = b64 === undefined ? '' : Buffer.from(b64, 'base64').toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new InjectorError(
      'EI_ERR_TLS_INVALID',
      `${where} has no PEM certificate under "${TLS_FILES.caCert}"; the webhook's CA must be there (delete the Secret to have it generated, or add ca.crt)`,
    );
  }
  return pem;
}

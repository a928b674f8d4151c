// The kubernetes.io/tls Secret form of a certificate bundle: the same keys as the files in certs/,
// so the Secret mounted at /etc/exporter-injector/tls is read exactly like the folder.
import { TLS_FILES } from './names.js';

export const DEFAULT_SECRET_NAME = 'exporter-injector-tls';

export interface SecretInput {
  readonly namespace: string;
  readonly name?: string;
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
}

export interface TlsSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  type: 'kubernetes.io/tls';
  data: Record<string, string>;
}

export function secretManifest(input: SecretInput): TlsSecret {
  const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: input.name ?? DEFAULT_SECRET_NAME,
      namespace: input.namespace,
      labels: { 'app.kubernetes.io/name': 'exporter-injector' },
    },
    type: 'kubernetes.io/tls',
    data: {
      [TLS_FILES.cert]: b64(input.cert),
      [TLS_FILES.key]: b64(input.key),
      [TLS_FILES.caCert]: b64(input.caCert),
    },
  };
}

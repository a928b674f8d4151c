// kube edge, pure part of `check`: does a caBundle verify a serving certificate (chain, host name), and how
// long is it still valid. node:crypto X509Certificate does the cryptography; nothing here calls the cluster.
import { X509Certificate } from 'node:crypto';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const DAY_MS = 24 * 60 * 60 * 1000;
/** How far a chain is followed from the serving certificate towards a CA of the bundle. */
const MAX_CHAIN = 5;

/** Every certificate in a PEM text; throws with what could not be parsed. */
export function parseCertificates(pem: string): X509Certificate[] {
  return (pem.match(PEM_BLOCK) ?? []).map((block) => new X509Certificate(block));
}

export type Verification = { readonly ok: true; readonly issuer: X509Certificate } | { readonly ok: false; readonly problem: string };

/**
 * Whether a CA of `bundle` signed `chain[0]` (directly or through intermediates that follow it in `chain`, as
 * tls.crt may carry them), the way the API server's TLS client decides. Validity dates are judged separately.
 */
export function verifyChain(chain: readonly X509Certificate[], bundle: readonly X509Certificate[]): Verification {
  const leaf = chain[0];
  if (!leaf) return { ok: false, problem: 'there is no certificate to verify' };
  if (bundle.length === 0) return { ok: false, problem: 'the caBundle holds no certificate' };
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const ca = bundle.find((c) => signed(c, current));
    if (ca) return { ok: true, issuer: ca };
    const intermediate = chain.slice(1).find((c) => c !== current && signed(c, current));
    if (!intermediate) break;
    current = intermediate;
  }
  const bundleSubjects = bundle.map((c) => oneLine(c.subject)).join('; ');
  return {
    ok: false,
    problem: `the serving certificate (issuer ${oneLine(current.issuer)}) is not signed by the caBundle's ${bundle.length === 1 ? 'certificate' : 'certificates'} (${bundleSubjects})`,
  };
}

/** The name the API server verifies when it calls the webhook through a Service. */
export function serviceHostname(service: string, namespace: string): string {
  return `${service}.${namespace}.svc`;
}

/** True when the certificate's SANs cover `host` (no fallback to the subject CN, as Go's TLS client). */
export function coversHost(cert: X509Certificate, host: string): boolean {
  return cert.checkHost(host, { subject: 'never' }) !== undefined;
}

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Whole days left (negative once expired). */
  readonly daysLeft: number;
  readonly state: 'not-yet-valid' | 'expired' | 'valid';
}

export function validityOf(cert: X509Certificate, now: Date): Validity {
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
  const state = now < notBefore ? 'not-yet-valid' : now >= notAfter ? 'expired' : 'valid';
  return { notBefore, notAfter, daysLeft, state };
}

/** `CN=exporter-injector-ca@1700000000` on one line (X509Certificate separates RDNs with newlines). */
export function oneLine(name: string): string {
  return name.split('\n').join(', ');
}

function signed(issuer: X509Certificate, cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

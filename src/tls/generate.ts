// Builds the webhook's CA and serving certificate as PEM strings. node-forge builds and signs the
// certificates; node:crypto makes the RSA keys, because forge's pure-JS key generation takes
// seconds where OpenSSL takes milliseconds. No file system here: see files.ts.
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { isDns1035Label, isDnsLabel } from '../core/values.js';
import { InjectorError } from '../errors.js';

/** node-forge signs X.509 certificates with RSA keys only (it has no ECDSA certificate support). */
export const KEY_SIZES = [2048, 3072, 4096] as const;
export type KeySize = (typeof KEY_SIZES)[number];

export const DEFAULT_KEY_SIZE: KeySize = 2048;
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_SERVING_DAYS = 365;
export const MAX_DAYS = 36500;
/** What `--dev` adds, so `serve --dev` can be reached over loopback by name or address. */
export const DEV_SANS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

// notBefore is set this far in the past: a freshly issued certificate must already be valid for an
// API server whose clock runs a little behind the machine that generated it.
const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

export interface CaOptions {
  readonly commonName?: string;
  readonly days?: number;
  readonly keySize?: KeySize;
  readonly now?: Date;
}

export interface ServingOptions {
  readonly service: string;
  readonly namespace: string;
  /** Extra subject alternative names; IPv4/IPv6 addresses become IP SANs, the rest DNS SANs. */
  readonly sans?: readonly string[];
  readonly days?: number;
  readonly keySize?: KeySize;
  readonly now?: Date;
}

export interface ServingCertificate extends PemPair {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  /** True when the requested validity ran past the CA's expiry and was cut to it. */
  readonly limitedByCa: boolean;
}

// A SAN label is a host name's label: any case (DNS names are case-insensitive), unlike Kubernetes names.
const DNS_NAME_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i;

/** The problem with a Service name, or undefined (Services are DNS-1035 labels). */
export function serviceNameProblem(name: string): string | undefined {
  return isDns1035Label(name) ? undefined : 'a Service name is a DNS-1035 label: lower-case letters, digits and "-", starting with a letter, at most 63 characters';
}

/** The problem with a namespace name, or undefined (namespaces are DNS-1123 labels). */
export function namespaceProblem(name: string): string | undefined {
  return isDnsLabel(name) ? undefined : 'a namespace is a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters';
}

/** The problem with an extra SAN, or undefined. Accepts IPv4, IPv6 and DNS names (optionally `*.` wildcard). */
export function sanProblem(san: string): string | undefined {
  if (isIP(san) === 6 && (san.includes('%') || san.includes('.'))) {
    return 'IPv6 addresses with a zone or an embedded IPv4 address are not supported; give the plain IPv6 or IPv4 address';
  }
  if (isIP(san) !== 0) return undefined;
  const name = san.startsWith('*.') ? san.slice(2) : san;
  if (name.length === 0 || name.length > 253 || !name.split('.').every((label) => DNS_NAME_LABEL.test(label))) {
    return 'a SAN is an IPv4 or IPv6 address or a DNS name (letters, digits, "-" and ".", optionally starting with "*.")';
  }
  return undefined;
}

/** The four names the API server and in-cluster clients use to reach a Service. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

/** The DNS and IP SANs of the serving certificate, deduplicated, service names first. */
export function servingSans(service: string, namespace: string, extra: readonly string[] = []): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames = new Set(serviceDnsNames(service, namespace));
  const ipAddresses = new Set<string>();
  for (const san of extra) {
    if (isIP(san) !== 0) ipAddresses.add(san);
    else dnsNames.add(san.toLowerCase());
  }
  return { dnsNames: [...dnsNames], ipAddresses: [...ipAddresses] };
}

export function generateCa(options: CaOptions = {}): PemPair {
  const now = options.now ?? new Date();
  const days = checkDays(options.days ?? DEFAULT_CA_DAYS, 'CA validity');
  const keys = newKeyPair(checkKeySize(options.keySize ?? DEFAULT_KEY_SIZE));
  // The timestamp keeps successive CAs apart by name, so a client holding an old and a new CA
  // never confuses them while building a chain.
  const subject = [utf8('commonName', options.commonName ?? `exporter-injector-ca@${Math.floor(now.getTime() / 1000)}`)];

  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: toPem(cert), key: keys.pem };
}

/**
 * Issues the serving certificate for `<service>.<namespace>` signed by `ca`. The CA may come from
 * generateCa or from the user (an RSA CA; files.ts readCaPair checks it first).
 */
export function issueServingCertificate(ca: PemPair, options: ServingOptions): ServingCertificate {
  const now = options.now ?? new Date();
  const days = checkDays(options.days ?? DEFAULT_SERVING_DAYS, 'serving certificate validity');
  checkName(serviceNameProblem(options.service), `service "${options.service}"`);
  checkName(namespaceProblem(options.namespace), `namespace "${options.namespace}"`);
  for (const san of options.sans ?? []) checkName(sanProblem(san), `SAN "${san}"`);
  const { dnsNames, ipAddresses } = servingSans(options.service, options.namespace, options.sans);

  const { caCert, caKey } = caForSigning(ca);
  if (caCert.validity.notAfter.getTime() <= now.getTime()) {
    throw new InjectorError('EI_ERR_TLS_INVALID', `the CA certificate expired on ${caCert.validity.notAfter.toISOString()}; make a new CA or pass a valid one`);
  }
  const keys = newKeyPair(checkKeySize(options.keySize ?? DEFAULT_KEY_SIZE));
  const wanted = now.getTime() + days * DAY_MS;
  // A certificate outliving its issuer fails verification anyway; cutting it makes that visible.
  const limitedByCa = wanted > caCert.validity.notAfter.getTime();

  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = limitedByCa ? caCert.validity.notAfter : new Date(wanted);
  cert.setSubject([utf8('commonName', `${options.service}.${options.namespace}.svc`)]);
  cert.setIssuer(issuerAttributes(caCert));
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...dnsNames.map((value) => ({ type: 2, value })), ...ipAddresses.map((ip) => ({ type: 7, ip }))],
    },
    { name: 'subjectKeyIdentifier' },
  ];
  // OpenSSL rejects an issuer whose key identifier differs from the child's authority key
  // identifier, so it is copied from the CA, and left out when the CA has none.
  const caKeyId = caSubjectKeyId(caCert);
  if (caKeyId !== undefined) extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: caKeyId });
  cert.setExtensions(extensions);
  cert.sign(caKey, forge.md.sha256.create());

  const pem = toPem(cert);
  checkIssuerEncoding(pem, ca.cert);
  return { cert: pem, key: keys.pem, dnsNames, ipAddresses, limitedByCa };
}

interface ForgeKeys {
  publicKey: forge.pki.rsa.PublicKey;
  privateKey: forge.pki.rsa.PrivateKey;
  pem: string;
}

function newKeyPair(modulusLength: KeySize): ForgeKeys {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength, publicExponent: 0x10001 });
  // PKCS#8 rather than PKCS#1: the same "PRIVATE KEY" header whatever the algorithm.
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}

function caForSigning(ca: PemPair): { caCert: forge.pki.Certificate; caKey: forge.pki.rsa.PrivateKey } {
  let keyType: string | undefined;
  let pkcs8: string;
  try {
    const key = createPrivateKey(ca.key);
    keyType = key.asymmetricKeyType;
    pkcs8 = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  } catch (e) {
    throw new InjectorError('EI_ERR_TLS_INVALID', `the CA key does not parse as a PEM private key: ${(e as Error).message}`, { cause: e });
  }
  if (keyType !== 'rsa') {
    throw new InjectorError('EI_ERR_TLS_INVALID', `the CA key is ${keyType ?? 'of an unknown type'}; node-forge can sign only with an RSA CA key`);
  }
  try {
    return { caCert: forge.pki.certificateFromPem(ca.cert), caKey: forge.pki.privateKeyFromPem(pkcs8) as forge.pki.rsa.PrivateKey };
  } catch (e) {
    throw new InjectorError('EI_ERR_TLS_INVALID', `node-forge cannot read the CA certificate: ${(e as Error).message}`, { cause: e });
  }
}

// forge keeps a parsed UTF8String as raw bytes but UTF-8-encodes it again when writing, which
// would mangle a non-ASCII CA name; decoding first makes the round trip exact.
function issuerAttributes(caCert: forge.pki.Certificate): forge.pki.CertificateField[] {
  return caCert.subject.attributes.map((attr) =>
    // @types/node-forge declares valueTagClass as asn1.Class; forge stores the asn1.Type tag there.
    (attr.valueTagClass as number | undefined) === forge.asn1.Type.UTF8 && typeof attr.value === 'string' ? { ...attr, value: forge.util.decodeUtf8(attr.value) } : attr,
  );
}

function caSubjectKeyId(caCert: forge.pki.Certificate): string | undefined {
  const ext = caCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  return ext?.subjectKeyIdentifier === undefined ? undefined : forge.util.hexToBytes(ext.subjectKeyIdentifier);
}

// Go's x509 (the API server) chains a certificate to its issuer by comparing the issuer name's
// DER bytes with the CA subject's. forge re-encodes names from parsed attributes, which loses
// unusual encodings (multi-valued RDNs, T61String); catch that here instead of in the cluster.
function checkIssuerEncoding(leafPem: string, caPem: string): void {
  const leafIssuer = nameDer(leafPem, 3);
  const caSubject = nameDer(caPem, 5);
  if (leafIssuer !== caSubject) {
    throw new InjectorError('EI_ERR_TLS_INVALID', `node-forge cannot reproduce the CA subject "${new X509Certificate(caPem).subject.replace(/\n/g, ', ')}" byte for byte; issue the serving certificate with another tool (openssl, cert-manager) or let certs make the CA`);
  }
}

/** DER bytes of the TBSCertificate field at `index` counted as if `version` were present (3 issuer, 5 subject). */
function nameDer(pem: string, index: number): string {
  const tbs = forge.asn1.fromDer(forge.pem.decode(pem)[0]!.body).value[0] as forge.asn1.Asn1;
  const fields = tbs.value as forge.asn1.Asn1[];
  const hasVersion = fields[0]?.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC;
  const field = fields[hasVersion ? index : index - 1];
  return field === undefined ? '' : forge.asn1.toDer(field).getBytes();
}

// forge writes names as PrintableString unless told otherwise, which cannot hold non-ASCII text.
function utf8(name: string, value: string): forge.pki.CertificateField {
  return { name, value, valueTagClass: forge.asn1.Type.UTF8 as number as forge.asn1.Class };
}

// forge writes CRLF line ends; files and Secrets conventionally hold LF.
function toPem(cert: forge.pki.Certificate): string {
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

/** 128 random bits, positive and minimally encoded (high bit clear, first byte non-zero). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function checkDays(days: number, what: string): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new InjectorError('EI_ERR_CONFIG_INVALID', `${what} of ${days} days is invalid; valid: a whole number of days from 1 to ${MAX_DAYS}`);
  }
  return days;
}

function checkKeySize(size: number): KeySize {
  if (!(KEY_SIZES as readonly number[]).includes(size)) {
    throw new InjectorError('EI_ERR_CONFIG_INVALID', `RSA key size ${size} is invalid; valid: ${KEY_SIZES.join(', ')} (node-forge cannot make ECDSA certificates)`);
  }
  return size as KeySize;
}

function checkName(problem: string | undefined, what: string): void {
  if (problem !== undefined) throw new InjectorError('EI_ERR_CONFIG_INVALID', `${what} is invalid; ${problem}`);
}

// Certificates on disk: writing a bundle into a folder, and reading back a serving pair or a CA
// with every check that keeps a broken pair from ever being served.
import { createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InjectorError } from '../errors.js';
import type { PemPair } from './generate.js';
import { TLS_FILES } from './names.js';

export { TLS_FILES } from './names.js';
export { DEFAULT_SECRET_NAME, secretManifest, type TlsSecret } from './secret.js';

export const KEY_FILE_MODE = 0o600;
export const CERT_FILE_MODE = 0o644;
export const DEFAULT_SERVICE = 'exporter-injector';
export const DEFAULT_NAMESPACE = 'exporter-injector';

export interface ServingPair {
  readonly cert: string;
  readonly key: string;
  readonly notAfter: Date;
  /** SHA-256 of the certificate, colon-separated hex as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint: string;
}

export interface CertificatePaths {
  readonly caCertPath: string;
  readonly caKeyPath: string;
  readonly certPath: string;
  readonly keyPath: string;
}

export function certificatePaths(dir: string): CertificatePaths {
  return {
    caCertPath: join(dir, TLS_FILES.caCert),
    caKeyPath: join(dir, TLS_FILES.caKey),
    certPath: join(dir, TLS_FILES.cert),
    keyPath: join(dir, TLS_FILES.key),
  };
}

/** What to write; `caKey` is left out when signing with a CA whose key lives elsewhere. */
export interface BundleContents {
  readonly caCert: string;
  readonly caKey?: string;
  readonly cert: string;
  readonly key: string;
}

export interface WrittenFile {
  readonly path: string;
  readonly mode: number;
}

function plannedFiles(dir: string, contents: BundleContents): { path: string; text: string; mode: number }[] {
  const paths = certificatePaths(dir);
  const files = [{ path: paths.caCertPath, text: contents.caCert, mode: CERT_FILE_MODE }];
  if (contents.caKey !== undefined) files.push({ path: paths.caKeyPath, text: contents.caKey, mode: KEY_FILE_MODE });
  files.push({ path: paths.certPath, text: contents.cert, mode: CERT_FILE_MODE }, { path: paths.keyPath, text: contents.key, mode: KEY_FILE_MODE });
  return files;
}

/**
 * The files writeBundle would replace with different content. A file that already holds exactly
 * what would be written (ca.crt when re-issuing with the same CA) is not a conflict.
 */
export async function conflictingFiles(dir: string, contents: BundleContents): Promise<string[]> {
  const conflicts: string[] = [];
  for (const file of plannedFiles(dir, contents)) {
    const current = await readIfExists(file.path);
    if (current !== undefined && current !== file.text) conflicts.push(file.path);
  }
  return conflicts;
}

/**
 * Writes the bundle into `dir` (created if missing), keys with mode 0600. Each file is written
 * to a temporary name and renamed, so a server watching the folder never reads half a file.
 */
export async function writeBundle(dir: string, contents: BundleContents): Promise<WrittenFile[]> {
  await mkdir(dir, { recursive: true });
  const written: WrittenFile[] = [];
  for (const file of plannedFiles(dir, contents)) {
    const temp = `${file.path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temp, file.text, { mode: file.mode, flag: 'wx' });
      // The mode given to writeFile is masked by the umask; set it exactly.
      await chmod(temp, file.mode);
      await rename(temp, file.path);
    } catch (e) {
      await rm(temp, { force: true });
      throw new InjectorError('EI_ERR_TLS_INVALID', `cannot write ${file.path}: ${(e as Error).message}`, { cause: e });
    }
    written.push({ path: file.path, mode: file.mode });
  }
  return written;
}

/**
 * Checks a serving pair held in memory: the certificate parses, the key parses, and the key is
 * the certificate's. `certName`/`keyName` name the sources in the error.
 */
export function checkServingPair(cert: string, key: string, certName = 'certificate', keyName = 'key'): ServingPair {
  const x509 = parseCertificate(cert, certName);
  const privateKey = parseKey(key, keyName);
  if (!x509.checkPrivateKey(privateKey)) {
    throw new InjectorError('EI_ERR_TLS_INVALID', `the key in ${keyName} does not belong to the certificate in ${certName} (subject ${oneLine(x509.subject)}); give the key the certificate was issued for`);
  }
  return { cert, key, notAfter: new Date(x509.validTo), fingerprint: x509.fingerprint256 };
}

/** Reads and checks the pair serve uses; throws EI_ERR_TLS_INVALID naming the file and the problem. */
export async function readServingPair(certPath: string, keyPath: string): Promise<ServingPair> {
  const [cert, key] = await Promise.all([readPem(certPath, 'certificate'), readPem(keyPath, 'private key')]);
  return checkServingPair(cert, key, certPath, keyPath);
}

/** Reads a CA to sign with: a CA certificate, unexpired, with its RSA key. */
export async function readCaPair(certPath: string, keyPath: string, now = new Date()): Promise<PemPair> {
  const [cert, key] = await Promise.all([readPem(certPath, 'CA certificate'), readPem(keyPath, 'CA private key')]);
  const x509 = parseCertificate(cert, certPath);
  if (!x509.ca) {
    throw new InjectorError('EI_ERR_TLS_INVALID', `${certPath} is not a CA certificate (basicConstraints CA:TRUE is missing); give the CA that should sign the serving certificate`);
  }
  if (new Date(x509.validTo).getTime() <= now.getTime()) {
    throw new InjectorError('EI_ERR_TLS_INVALID', `the CA certificate in ${certPath} expired on ${new Date(x509.validTo).toISOString()}; give a valid CA or let certs make a new one`);
  }
  const privateKey = parseKey(key, keyPath);
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw new InjectorError('EI_ERR_TLS_INVALID', `${keyPath} is an ${privateKey.asymmetricKeyType ?? 'unknown'} key; node-forge can sign only with an RSA CA key`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new InjectorError('EI_ERR_TLS_INVALID', `the key in ${keyPath} does not belong to the CA certificate in ${certPath} (subject ${oneLine(x509.subject)})`);
  }
  return { cert, key };
}

export interface DevCertificates extends CertificatePaths {
  /** Paths written by this call; empty when the serving pair was already there. */
  readonly written: readonly string[];
}

/**
 * For `serve --dev` / `npm start`: makes sure `dir` holds a serving pair, generating one if absent
 * (with localhost, 127.0.0.1 and ::1 as extra SANs). An existing CA in the folder signs the new
 * pair, so a client that already trusts it keeps working. Never overwrites a file.
 */
export async function ensureDevCertificates(
  dir: string,
  options: { service?: string; namespace?: string } = {},
): Promise<DevCertificates> {
  const paths = certificatePaths(dir);
  const [hasCaCert, hasCaKey, hasCert, hasKey] = await Promise.all(
    [paths.caCertPath, paths.caKeyPath, paths.certPath, paths.keyPath].map(async (p) => (await readIfExists(p)) !== undefined),
  );
  if (hasCert && hasKey) return { ...paths, written: [] };
  if (hasCert !== hasKey) {
    const [present, missing] = hasCert ? [paths.certPath, paths.keyPath] : [paths.keyPath, paths.certPath];
    throw new InjectorError('EI_ERR_TLS_INVALID', `${present} exists but ${missing} does not; remove ${present} or run "exporter-injector certs --dev --force --out ${dir}"`);
  }
  if (hasCaCert !== hasCaKey) {
    const [present, missing] = hasCaCert ? [paths.caCertPath, paths.caKeyPath] : [paths.caKeyPath, paths.caCertPath];
    throw new InjectorError('EI_ERR_TLS_INVALID', `${present} exists but ${missing} does not, so no serving pair can be signed; remove ${present} or run "exporter-injector certs --dev --force --out ${dir}"`);
  }
  // node-forge (generate.js) only creates certificates: a webhook serving existing ones never loads it.
  const { DEV_SANS, generateCa, issueServingCertificate } = await import('./generate.js');
  const ca = hasCaCert ? await readCaPair(paths.caCertPath, paths.caKeyPath) : generateCa();
  const serving = issueServingCertificate(ca, {
    service: options.service ?? DEFAULT_SERVICE,
    namespace: options.namespace ?? DEFAULT_NAMESPACE,
    sans: DEV_SANS,
  });
  const written = await writeBundle(dir, { caCert: ca.cert, ...(hasCaCert ? {} : { caKey: ca.key }), cert: serving.cert, key: serving.key });
  return { ...paths, written: written.map((w) => w.path) };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InjectorError('EI_ERR_TLS_INVALID', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : (e as Error).message;
    throw new InjectorError('EI_ERR_TLS_INVALID', `cannot read the ${what} ${path}: ${reason}`, { cause: e });
  }
}

function parseCertificate(pem: string, name: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new InjectorError('EI_ERR_TLS_INVALID', `${name} does not hold a PEM certificate (${(e as Error).message}); expected "-----BEGIN CERTIFICATE-----"`, { cause: e });
  }
}

function parseKey(pem: string, name: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new InjectorError('EI_ERR_TLS_INVALID', `${name} does not hold an unencrypted PEM private key (${(e as Error).message}); expected "-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----"`, { cause: e });
  }
}

function oneLine(name: string): string {
  return `"${name.trim().replace(/\n/g, ', ')}"`;
}

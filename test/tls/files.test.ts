// Certificates on disk: modes, refusing broken pairs, and the development bootstrap.
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isInjectorError } from '../../src/errors.js';
import {
  certificatePaths,
  checkServingPair,
  conflictingFiles,
  ensureDevCertificates,
  readCaPair,
  readServingPair,
  writeBundle,
} from '../../src/tls/files.js';
import { generateCa, issueServingCertificate } from '../../src/tls/generate.js';
import { tempDir } from './support.js';

const ca = generateCa();
const serving = issueServingCertificate(ca, { service: 'svc', namespace: 'ns' });
const otherServing = issueServingCertificate(ca, { service: 'svc', namespace: 'ns' });
const bundle = { caCert: ca.cert, caKey: ca.key, cert: serving.cert, key: serving.key };

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

function tlsError(...fragments: string[]): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isInjectorError(e, 'EI_ERR_TLS_INVALID'), `expected EI_ERR_TLS_INVALID, got ${String(e)}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention ${f}`);
    return true;
  };
}

describe('writeBundle', () => {
  it('creates the folder and writes keys readable by the owner only', async (t) => {
    const dir = join(await tempDir(t), 'nested', 'certs');
    const written = await writeBundle(dir, bundle);
    const paths = certificatePaths(dir);
    assert.deepEqual(written.map((w) => w.path), [paths.caCertPath, paths.caKeyPath, paths.certPath, paths.keyPath]);
    assert.equal(await mode(paths.keyPath), 0o600);
    assert.equal(await mode(paths.caKeyPath), 0o600);
    assert.equal(await mode(paths.certPath), 0o644);
    assert.equal(await readFile(paths.certPath, 'utf8'), serving.cert);
  });

  it('leaves a replaced key at 0600 even if the old file was world-readable', async (t) => {
    const dir = await tempDir(t);
    const { keyPath } = certificatePaths(dir);
    await writeFile(keyPath, 'old', { mode: 0o644 });
    await writeBundle(dir, bundle);
    assert.equal(await mode(keyPath), 0o600);
    assert.equal(await readFile(keyPath, 'utf8'), serving.key);
  });

  it('omits ca.key when the bundle has none', async (t) => {
    const dir = await tempDir(t);
    await writeBundle(dir, { caCert: ca.cert, cert: serving.cert, key: serving.key });
    await assert.rejects(stat(certificatePaths(dir).caKeyPath), { code: 'ENOENT' });
  });
});

describe('conflictingFiles', () => {
  it('lists files that would change and not those that would stay the same', async (t) => {
    const dir = await tempDir(t);
    assert.deepEqual(await conflictingFiles(dir, bundle), []);
    await writeBundle(dir, bundle);
    const paths = certificatePaths(dir);
    assert.deepEqual(await conflictingFiles(dir, { caCert: ca.cert, cert: otherServing.cert, key: otherServing.key }), [paths.certPath, paths.keyPath]);
  });
});

describe('readServingPair', () => {
  it('returns the pair with its expiry and SHA-256 fingerprint', async (t) => {
    const dir = await tempDir(t);
    await writeBundle(dir, bundle);
    const { certPath, keyPath } = certificatePaths(dir);
    const pair = await readServingPair(certPath, keyPath);
    const x509 = new X509Certificate(serving.cert);
    assert.equal(pair.cert, serving.cert);
    assert.equal(pair.key, serving.key);
    assert.equal(pair.notAfter.getTime(), new Date(x509.validTo).getTime());
    assert.equal(pair.fingerprint, x509.fingerprint256);
    assert.match(pair.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('rejects a key that belongs to another certificate, naming both files', async (t) => {
    const dir = await tempDir(t);
    const certPath = join(dir, 'tls.crt');
    const keyPath = join(dir, 'other.key');
    await writeFile(certPath, serving.cert);
    await writeFile(keyPath, otherServing.key);
    await assert.rejects(readServingPair(certPath, keyPath), tlsError(certPath, keyPath, 'does not belong'));
  });

  it('rejects garbage in the certificate or the key file, naming the file', async (t) => {
    const dir = await tempDir(t);
    const good = certificatePaths(dir);
    await writeBundle(dir, bundle);
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    await assert.rejects(readServingPair(garbage, good.keyPath), tlsError(garbage, 'PEM certificate'));
    await assert.rejects(readServingPair(good.certPath, garbage), tlsError(garbage, 'private key'));
    // A swapped pair is the commonest mistake.
    await assert.rejects(readServingPair(good.keyPath, good.certPath), tlsError(good.keyPath, 'PEM certificate'));
  });

  it('rejects a missing file, naming it', async (t) => {
    const dir = await tempDir(t);
    const missing = join(dir, 'absent.crt');
    await assert.rejects(readServingPair(missing, missing), tlsError(missing, 'does not exist'));
  });

  it('checks pairs held in memory the same way', () => {
    assert.equal(checkServingPair(serving.cert, serving.key).fingerprint, new X509Certificate(serving.cert).fingerprint256);
    assert.throws(() => checkServingPair(serving.cert, otherServing.key, 'Secret tls.crt', 'Secret tls.key'), tlsError('Secret tls.crt', 'Secret tls.key'));
  });
});

describe('readCaPair', () => {
  it('accepts a CA with its key and refuses a serving certificate, a foreign key or a non-RSA key', async (t) => {
    const dir = await tempDir(t);
    await writeBundle(dir, bundle);
    const paths = certificatePaths(dir);
    assert.deepEqual(await readCaPair(paths.caCertPath, paths.caKeyPath), { cert: ca.cert, key: ca.key });
    await assert.rejects(readCaPair(paths.certPath, paths.keyPath), tlsError(paths.certPath, 'not a CA'));
    await assert.rejects(readCaPair(paths.caCertPath, paths.keyPath), tlsError(paths.caCertPath, paths.keyPath, 'does not belong'));
    const ecKey = join(dir, 'ec.key');
    await writeFile(ecKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await assert.rejects(readCaPair(paths.caCertPath, ecKey), tlsError(ecKey, 'RSA'));
  });

  it('refuses an expired CA', async (t) => {
    const dir = await tempDir(t);
    await writeBundle(dir, bundle);
    const paths = certificatePaths(dir);
    await assert.rejects(readCaPair(paths.caCertPath, paths.caKeyPath, new Date(Date.now() + 3651 * 24 * 3600 * 1000)), tlsError(paths.caCertPath, 'expired'));
  });
});

describe('ensureDevCertificates', () => {
  it('creates a CA and a pair for the default Service plus localhost, then leaves them alone', async (t) => {
    const dir = join(await tempDir(t), 'certs');
    const first = await ensureDevCertificates(dir);
    assert.deepEqual(first.written, [first.caCertPath, first.caKeyPath, first.certPath, first.keyPath]);
    const pair = await readServingPair(first.certPath, first.keyPath);
    const leaf = new X509Certificate(pair.cert);
    assert.equal(leaf.checkHost('exporter-injector.exporter-injector.svc'), 'exporter-injector.exporter-injector.svc');
    assert.equal(leaf.checkHost('localhost'), 'localhost');
    assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(leaf.checkIssued(new X509Certificate(await readFile(first.caCertPath, 'utf8'))), true);
    assert.equal(await mode(first.keyPath), 0o600);

    const second = await ensureDevCertificates(dir);
    assert.deepEqual(second.written, []);
    assert.equal(await readFile(second.certPath, 'utf8'), pair.cert);
  });

  it('signs a new pair with a CA already in the folder, keeping the CA', async (t) => {
    const dir = await tempDir(t);
    const paths = certificatePaths(dir);
    await writeFile(paths.caCertPath, ca.cert);
    await writeFile(paths.caKeyPath, ca.key, { mode: 0o600 });
    const result = await ensureDevCertificates(dir);
    assert.deepEqual(result.written, [paths.caCertPath, paths.certPath, paths.keyPath]);
    assert.equal(await readFile(paths.caCertPath, 'utf8'), ca.cert);
    assert.equal(new X509Certificate(await readFile(paths.certPath, 'utf8')).checkIssued(new X509Certificate(ca.cert)), true);
  });

  it('refuses half a pair instead of overwriting it', async (t) => {
    const dir = await tempDir(t);
    const paths = certificatePaths(dir);
    await writeFile(paths.certPath, serving.cert);
    await assert.rejects(ensureDevCertificates(dir), tlsError(paths.certPath, paths.keyPath, '--force'));
    assert.equal(await readFile(paths.certPath, 'utf8'), serving.cert);
  });
});

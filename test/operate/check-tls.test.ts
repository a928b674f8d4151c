// The certificate rules of `check`: a caBundle verifies a serving certificate directly or through the
// intermediates tls.crt carries, never a certificate of another CA; SANs and validity are judged as the
// API server's TLS client judges them.
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import forge from 'node-forge';
import { coversHost, parseCertificates, validityOf, verifyChain } from '../../src/kube/check-tls.js';
import { generateCa, issueServingCertificate } from '../../src/tls/generate.js';

const DAY = 24 * 3600 * 1000;

interface Issued {
  readonly pem: string;
  readonly cert: forge.pki.Certificate;
  readonly key: forge.pki.rsa.PrivateKey;
}

/** A certificate signed by `issuer` (self-signed without one), with node-forge. */
function certificate(cn: string, options: { issuer?: Issued; ca?: boolean; dns?: string[] } = {}): Issued {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = `0${forge.util.bytesToHex(forge.random.getBytesSync(8))}`;
  cert.validity.notBefore = new Date(Date.now() - DAY);
  cert.validity.notAfter = new Date(Date.now() + 30 * DAY);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer((options.issuer?.cert ?? cert).subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: options.ca ?? false },
    { name: 'keyUsage', keyCertSign: options.ca ?? false, digitalSignature: true, keyEncipherment: !options.ca },
    ...(options.dns ? [{ name: 'subjectAltName', altNames: options.dns.map((value) => ({ type: 2, value })) }] : []),
  ]);
  cert.sign(options.issuer?.key ?? key, forge.md.sha256.create());
  return { pem: forge.pki.certificateToPem(cert), cert, key };
}

describe('check: certificates', () => {
  const root = certificate('root', { ca: true });
  const intermediate = certificate('intermediate', { ca: true, issuer: root });
  const leaf = certificate('leaf', { issuer: intermediate, dns: ['exporter-injector.exporter-injector.svc'] });
  const stranger = certificate('stranger', { ca: true });
  const x = (i: Issued) => new X509Certificate(i.pem);

  it('verifies through the intermediates tls.crt carries, in the API server order (leaf first)', () => {
    const chain = parseCertificates(leaf.pem + intermediate.pem);
    assert.equal(chain.length, 2);
    const verdict = verifyChain(chain, [x(stranger), x(root)]);
    assert.equal(verdict.ok, true);
    assert.equal(verdict.ok && verdict.issuer.subject, 'CN=root');
  });

  it('refuses without the intermediate, with another CA, or with an empty bundle, naming both sides', () => {
    const alone = verifyChain([x(leaf)], [x(root)]);
    assert.equal(alone.ok, false);
    assert.match(!alone.ok ? alone.problem : '', /^the serving certificate \(issuer CN=intermediate\) is not signed by the caBundle's certificate \(CN=root\)$/);
    const other = verifyChain(parseCertificates(leaf.pem + intermediate.pem), [x(stranger)]);
    assert.match(!other.ok ? other.problem : '', /\(issuer CN=root\) is not signed by the caBundle's certificate \(CN=stranger\)/);
    assert.deepEqual(verifyChain([x(leaf)], []), { ok: false, problem: 'the caBundle holds no certificate' });
  });

  it('a certificate that merely names its issuer is not taken as signed by it', () => {
    const impostor = certificate('root', { ca: true });
    const forged = certificate('leaf', { issuer: impostor });
    assert.equal(verifyChain([x(forged)], [x(root)]).ok, false, 'same issuer name, other key');
  });

  it('judges the host name by SANs only, and validity by the clock given', () => {
    const ca = generateCa({ days: 30 });
    const serving = new X509Certificate(issueServingCertificate(ca, { service: 'exporter-injector', namespace: 'exporter-injector', days: 10 }).cert);
    assert.equal(coversHost(serving, 'exporter-injector.exporter-injector.svc'), true);
    assert.equal(coversHost(serving, 'other.exporter-injector.svc'), false);
    assert.equal(coversHost(x(certificate('exporter-injector.exporter-injector.svc')), 'exporter-injector.exporter-injector.svc'), false, 'CN is not a SAN');
    const now = new Date();
    assert.equal(validityOf(serving, now).state, 'valid');
    assert.equal(validityOf(serving, now).daysLeft, 9);
    assert.equal(validityOf(serving, new Date(now.getTime() + 11 * DAY)).state, 'expired');
    assert.equal(validityOf(serving, new Date(now.getTime() - 2 * DAY)).state, 'not-yet-valid');
  });
});

// The generated CA and serving certificate, checked with node:crypto (OpenSSL), not with forge.
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import forge from 'node-forge';
import { isInjectorError } from '../../src/errors.js';
import { DEV_SANS, generateCa, issueServingCertificate, sanProblem, servingSans } from '../../src/tls/generate.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const DAY_MS = 24 * 60 * 60 * 1000;
const NOW = new Date('2030-01-01T00:00:00Z');

const ca = generateCa({ now: NOW });
const caX509 = new X509Certificate(ca.cert);
const serving = issueServingCertificate(ca, { service: 'svc', namespace: 'ns', now: NOW });
const leaf = new X509Certificate(serving.cert);

function extension<T>(pem: string, name: string): T {
  return forge.pki.certificateFromPem(pem).getExtension(name) as T;
}

describe('generateCa', () => {
  it('makes a self-signed CA certificate allowed to sign certificates', () => {
    assert.equal(caX509.ca, true);
    assert.equal(caX509.checkIssued(caX509), true);
    assert.equal(caX509.verify(caX509.publicKey), true);
    const usage = extension<{ keyCertSign: boolean; critical: boolean }>(ca.cert, 'keyUsage');
    assert.equal(usage.keyCertSign, true);
    assert.equal(usage.critical, true);
  });

  it('is valid for 3650 days by default and for the days asked otherwise', () => {
    assert.equal(new Date(caX509.validTo).getTime(), NOW.getTime() + 3650 * DAY_MS);
    assert.ok(new Date(caX509.validFrom).getTime() <= NOW.getTime());
    const short = new X509Certificate(generateCa({ now: NOW, days: 30 }).cert);
    assert.equal(new Date(short.validTo).getTime(), NOW.getTime() + 30 * DAY_MS);
  });

  it('writes the key as PKCS#8 PEM matching the certificate', () => {
    assert.match(ca.key, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.doesNotMatch(ca.cert, /\r/);
    assert.equal(caX509.checkPrivateKey(createPrivateKey(ca.key)), true);
  });

  it('refuses a key size node-forge cannot sign with and a validity out of range', () => {
    assert.throws(() => generateCa({ keySize: 1024 as never }), (e) => isInjectorError(e, 'EI_ERR_CONFIG_INVALID') && /2048, 3072, 4096/.test(e.message));
    assert.throws(() => generateCa({ days: 0 }), (e) => isInjectorError(e, 'EI_ERR_CONFIG_INVALID'));
  });
});

describe('issueServingCertificate', () => {
  it('is signed by the CA and chains to it', () => {
    assert.equal(leaf.verify(caX509.publicKey), true);
    assert.equal(leaf.checkIssued(caX509), true);
    assert.equal(leaf.ca, false);
    const other = new X509Certificate(generateCa().cert);
    assert.equal(leaf.verify(other.publicKey), false);
    assert.equal(leaf.checkIssued(other), false);
  });

  it('covers the four Service names and nothing else by default', () => {
    assert.equal(leaf.subjectAltName, 'DNS:svc, DNS:svc.ns, DNS:svc.ns.svc, DNS:svc.ns.svc.cluster.local');
    for (const host of ['svc', 'svc.ns', 'svc.ns.svc', 'svc.ns.svc.cluster.local']) assert.equal(leaf.checkHost(host), host);
    assert.equal(leaf.checkHost('other.ns.svc'), undefined);
    assert.equal(leaf.checkHost('localhost'), undefined);
    assert.equal(leaf.checkIP('127.0.0.1'), undefined);
  });

  it('is for server authentication only', () => {
    assert.deepEqual(leaf.keyUsage, [SERVER_AUTH]);
  });

  it('adds extra names as DNS SANs and addresses as IP SANs', () => {
    const dev = new X509Certificate(issueServingCertificate(ca, { service: 'svc', namespace: 'ns', sans: [...DEV_SANS, '10.0.0.7', 'Hooks.Example.com'] }).cert);
    assert.equal(dev.checkHost('localhost'), 'localhost');
    assert.equal(dev.checkHost('hooks.example.com'), 'hooks.example.com');
    assert.equal(dev.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(dev.checkIP('::1'), '::1');
    assert.equal(dev.checkIP('10.0.0.7'), '10.0.0.7');
    assert.match(dev.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.doesNotMatch(dev.subjectAltName ?? '', /DNS:127\.0\.0\.1|DNS:::1/);
  });

  it('is valid for 365 days by default, from a little before now', () => {
    assert.equal(new Date(leaf.validTo).getTime(), NOW.getTime() + 365 * DAY_MS);
    const from = new Date(leaf.validFrom).getTime();
    assert.ok(from < NOW.getTime() && from >= NOW.getTime() - 10 * 60 * 1000);
  });

  it('never outlives its CA', () => {
    const shortCa = generateCa({ now: NOW, days: 10 });
    const cut = issueServingCertificate(shortCa, { service: 'svc', namespace: 'ns', now: NOW });
    assert.equal(cut.limitedByCa, true);
    assert.equal(new X509Certificate(cut.cert).validTo, new X509Certificate(shortCa.cert).validTo);
    assert.equal(serving.limitedByCa, false);
  });

  it('refuses an expired CA', () => {
    const old = generateCa({ now: new Date('2020-01-01T00:00:00Z'), days: 1 });
    assert.throws(() => issueServingCertificate(old, { service: 'svc', namespace: 'ns' }), (e) => isInjectorError(e, 'EI_ERR_TLS_INVALID') && /expired/.test(e.message));
  });

  it('gets a fresh positive serial number each time', () => {
    const again = new X509Certificate(issueServingCertificate(ca, { service: 'svc', namespace: 'ns' }).cert);
    assert.notEqual(again.serialNumber, leaf.serialNumber);
    for (const serial of [leaf.serialNumber, again.serialNumber, caX509.serialNumber]) {
      assert.match(serial, /^[4-7][0-9A-F]{31}$/, 'a positive 128-bit serial with no leading zero byte');
    }
  });

  it('chains to a CA with a non-ASCII name, byte for byte', () => {
    const named = generateCa({ commonName: 'Zürich Ops CA' });
    const child = new X509Certificate(issueServingCertificate(named, { service: 'svc', namespace: 'ns' }).cert);
    assert.equal(child.issuer, 'CN=Zürich Ops CA');
    assert.equal(child.checkIssued(new X509Certificate(named.cert)), true);
  });

  it('carries the CA key identifier as its authority key identifier', () => {
    const caKeyId = extension<{ subjectKeyIdentifier: string }>(ca.cert, 'subjectKeyIdentifier').subjectKeyIdentifier;
    const authority = forge.pki.certificateFromPem(serving.cert).getExtension('authorityKeyIdentifier') as { value: string };
    // The extension value is SEQUENCE { [0] keyIdentifier }: skip the four header bytes.
    assert.equal(forge.util.bytesToHex(authority.value.slice(4)), caKeyId);
  });

  it('makes the RSA key size asked for', () => {
    const big = issueServingCertificate(ca, { service: 'svc', namespace: 'ns', keySize: 3072 });
    assert.equal(new X509Certificate(big.cert).publicKey.asymmetricKeyDetails?.modulusLength, 3072);
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  });

  it('refuses names that are not DNS labels', () => {
    assert.throws(() => issueServingCertificate(ca, { service: 'Svc', namespace: 'ns' }), (e) => isInjectorError(e, 'EI_ERR_CONFIG_INVALID') && /DNS-1035/.test(e.message));
    assert.throws(() => issueServingCertificate(ca, { service: 'svc', namespace: 'n_s' }), (e) => isInjectorError(e, 'EI_ERR_CONFIG_INVALID') && /namespace/.test(e.message));
    assert.throws(() => issueServingCertificate(ca, { service: 'svc', namespace: 'ns', sans: ['a b'] }), (e) => isInjectorError(e, 'EI_ERR_CONFIG_INVALID') && /SAN "a b"/.test(e.message));
  });
});

describe('SANs', () => {
  it('tells addresses from names and rejects what is neither', () => {
    assert.deepEqual(servingSans('svc', 'ns', ['10.1.2.3', 'fd00::1', 'example.com', 'svc.ns']), {
      dnsNames: ['svc', 'svc.ns', 'svc.ns.svc', 'svc.ns.svc.cluster.local', 'example.com'],
      ipAddresses: ['10.1.2.3', 'fd00::1'],
    });
    for (const good of ['localhost', '127.0.0.1', '::1', '*.example.com', 'a-b.c0']) assert.equal(sanProblem(good), undefined, good);
    for (const bad of ['', 'a_b', '-a.com', 'a..b', 'fe80::1%eth0', '::ffff:10.0.0.1', `${'a'.repeat(64)}.com`]) assert.notEqual(sanProblem(bad), undefined, bad);
  });
});

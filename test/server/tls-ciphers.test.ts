// What a TLS scanner sees on the webhook port, checked with real handshakes from openssl s_client
// and node:tls: over TLS 1.2 only forward-secret AEAD suites (ECDHE with AES-GCM or
// ChaCha20-Poly1305), TLS 1.3 with its three suites, nothing older than 1.2, the same after a
// certificate reload, and --tls-cipher-suites narrowing the list. (The health port is plain HTTP.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { parseServeConfig } from '../../src/config/serve-config.js';
import { MIN_TLS_VERSION } from '../../src/server/serving-certificate.js';
import type { RunningWebhook } from '../../src/server/runtime.js';
import { cipherOption, DEFAULT_CIPHER_SUITES } from '../../src/tls/ciphers.js';
import { SERVICE_NAME } from '../helpers/api-server-standin.js';
import { oldTlsOutcome, ProjectedFolder, servingCertDir, startTestWebhook, tempDir, testPki, until } from './fixtures.js';

/** Suites a scanner flags: no forward secrecy (plain RSA key exchange) or CBC, or both. */
const REFUSED_TLS12 = ['AES128-SHA', 'AES256-SHA', 'AES128-SHA256', 'AES256-SHA256', 'AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA', 'ECDHE-RSA-AES128-SHA256', 'ECDHE-RSA-AES256-SHA384', 'DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-SHA256'];
const OFFERED_RSA = ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305'];
const OFFERED_ECDSA = ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305'];
const REFUSED_ECDSA = ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES256-SHA384'];
const TLS13 = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** openssl s_client's verdict: the negotiated suite, or `refused: <why>`. SECLEVEL=0 so the client really offers weak suites. */
function sClient(port: number, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', SERVICE_NAME, '-brief', ...args], { timeout: 15_000 }, (error, stdout, stderr) => {
      const text = `${stdout}\n${stderr}`;
      const suite = /^Ciphersuite: (\S+)$/m.exec(text)?.[1];
      if (!error && suite) resolve(suite);
      else resolve(`refused: ${/alert [a-z ]+(?=:)|no ciphers available|wrong version number/.exec(text)?.[0] ?? text.slice(0, 300)}`);
    });
    child.stdin?.end();
  });
}
const tls12 = (port: number, suite: string) => sClient(port, ['-tls1_2', '-cipher', `${suite}:@SECLEVEL=0`]);
const tls13 = (port: number, suite: string) => sClient(port, ['-tls1_3', '-ciphersuites', suite]);

/** node:tls's verdict, the same way. */
function nodeClient(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: SERVICE_NAME, rejectUnauthorized: false, ...options });
    socket.setTimeout(15_000, () => socket.destroy(new Error('no handshake within 15 s')));
    socket.once('secureConnect', () => {
      resolve(socket.getCipher().name);
      socket.destroy();
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(`refused: ${e.code ?? e.message}`));
  });
}

describe('cipher suites on the webhook port', () => {
  let dir: string;
  let folder: ProjectedFolder;
  let pki: ReturnType<typeof testPki>;
  let webhook: RunningWebhook;
  before(async () => {
    pki = testPki();
    ({ dir, folder } = await servingCertDir('ciphers', pki));
    ({ webhook } = await startTestWebhook(dir, ['--log-level', 'warn']));
  });
  after(async () => {
    await webhook.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses every TLS 1.2 suite without forward secrecy or with CBC (openssl s_client)', async () => {
    for (const suite of REFUSED_TLS12) assert.match(await tls12(webhook.httpsPort, suite), /^refused: alert handshake failure/, suite);
  });

  it('negotiates each offered ECDHE-RSA AEAD suite over TLS 1.2 (openssl s_client)', async () => {
    for (const suite of OFFERED_RSA) assert.equal(await tls12(webhook.httpsPort, suite), suite);
  });

  it('negotiates each TLS 1.3 suite (openssl s_client)', async () => {
    for (const suite of TLS13) assert.equal(await tls13(webhook.httpsPort, suite), suite);
  });

  it('gives node:tls clients the same answers, and refuses TLS 1.0 and 1.1', async () => {
    for (const suite of REFUSED_TLS12) {
      // The server's handshake_failure alert, as the client's OpenSSL names it: SSLV3_ALERT_... in 3.0 (Node 20), SSL/TLS_ALERT_... in 3.5 (Node 24, the image's).
      assert.match(await nodeClient(webhook.httpsPort, { maxVersion: 'TLSv1.2', ciphers: `${suite}:@SECLEVEL=0` }), /^refused: ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_HANDSHAKE_FAILURE$/, suite);
    }
    for (const suite of OFFERED_RSA) assert.equal(await nodeClient(webhook.httpsPort, { maxVersion: 'TLSv1.2', ciphers: suite }), suite);
    // A default client (as the API server's) gets TLS 1.3.
    assert.match(await nodeClient(webhook.httpsPort, {}), /^TLS_/);
    assert.equal(await oldTlsOutcome(webhook.httpsPort), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  });

  it('keeps the same suites after the certificate is reloaded', async () => {
    const before = webhook.certificate.pair.fingerprint;
    const next = pki.issue();
    await folder.update({ 'tls.crt': next.cert, 'tls.key': next.key });
    await until('the new certificate to serve', async () => (await webhook.certificate.check(), webhook.certificate.pair.fingerprint !== before));
    for (const suite of ['AES128-SHA', 'AES128-SHA256', 'ECDHE-RSA-AES128-SHA']) assert.match(await tls12(webhook.httpsPort, suite), /^refused: alert handshake failure/, suite);
    assert.equal(await tls12(webhook.httpsPort, 'ECDHE-RSA-AES128-GCM-SHA256'), 'ECDHE-RSA-AES128-GCM-SHA256');
  });
});

describe('--tls-cipher-suites', () => {
  it('narrows what is offered', async () => {
    const pki = testPki();
    const { dir } = await servingCertDir('ciphers-flag', pki);
    const { webhook } = await startTestWebhook(dir, ['--log-level', 'warn', '--tls-cipher-suites', 'ECDHE-RSA-AES256-GCM-SHA384, TLS_AES_256_GCM_SHA384']);
    try {
      assert.equal(await tls12(webhook.httpsPort, 'ECDHE-RSA-AES256-GCM-SHA384'), 'ECDHE-RSA-AES256-GCM-SHA384');
      assert.match(await tls12(webhook.httpsPort, 'ECDHE-RSA-AES128-GCM-SHA256'), /^refused/);
      assert.equal(await tls13(webhook.httpsPort, 'TLS_AES_256_GCM_SHA384'), 'TLS_AES_256_GCM_SHA384');
      assert.match(await tls13(webhook.httpsPort, 'TLS_AES_128_GCM_SHA256'), /^refused/);
    } finally {
      await webhook.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a name OpenSSL does not know, naming it, from the flag or the environment', () => {
    const probe = { kind: () => 'file' as const };
    assert.throws(() => parseServeConfig(['--tls-cipher-suites', 'ECDHE-RSA-AES128-GCM-SHA256,ECDHE-RSA-AES129-GCM'], {}, probe), (e: Error & { details?: string[] }) => {
      assert.match(e.details?.join('\n') ?? '', /--tls-cipher-suites .*ECDHE-RSA-AES129-GCM is not a cipher suite OpenSSL knows/);
      return true;
    });
    assert.throws(() => parseServeConfig([], { EXPORTER_INJECTOR_TLS_CIPHER_SUITES: ' , ' }, probe), (e: Error & { details?: string[] }) => {
      assert.match(e.details?.join('\n') ?? '', /EXPORTER_INJECTOR_TLS_CIPHER_SUITES .*the list is empty/);
      return true;
    });
    assert.deepEqual(parseServeConfig([], {}, probe).cipherSuites, DEFAULT_CIPHER_SUITES);
  });
});

describe('the default list with an ECDSA certificate', () => {
  // node-forge (src/tls/generate.ts) makes RSA keys only; a user may bring an ECDSA pair
  // (cert-manager can issue one), which is when the ECDHE-ECDSA suites of the list apply.
  let server: tls.Server;
  let dir: string;
  before(async () => {
    dir = await tempDir('ecdsa');
    await new Promise<void>((resolve, reject) =>
      execFile('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'ec.key'), '-out', join(dir, 'ec.crt'), '-days', '1', '-subj', `/CN=${SERVICE_NAME}`], (e) => (e ? reject(e) : resolve())),
    );
    const [cert, key] = await Promise.all([readFile(join(dir, 'ec.crt'), 'utf8'), readFile(join(dir, 'ec.key'), 'utf8')]);
    // The options ServingCertificate.tlsOptions() gives the webhook's server.
    server = tls.createServer({ cert, key, minVersion: MIN_TLS_VERSION, ciphers: cipherOption(DEFAULT_CIPHER_SUITES) }, (socket) => socket.end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  after(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('negotiates each ECDHE-ECDSA AEAD suite and refuses the CBC ones', async () => {
    const port = (server.address() as { port: number }).port;
    for (const suite of OFFERED_ECDSA) assert.equal(await tls12(port, suite), suite);
    for (const suite of REFUSED_ECDSA) assert.match(await tls12(port, suite), /^refused: alert handshake failure/, suite);
  });
});

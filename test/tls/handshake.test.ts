// Real TLS handshakes on loopback: a client that trusts only the generated CA, as the API server
// does, must accept the serving certificate under the Service name and refuse anything else.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { DEV_SANS, generateCa, issueServingCertificate } from '../../src/tls/generate.js';

const SERVICE_NAME = 'exporter-injector.exporter-injector.svc';
// Bounds a handshake that never completes; no assertion depends on it.
const SOCKET_TIMEOUT_MS = 10_000;

const ca = generateCa();
const serving = issueServingCertificate(ca, { service: 'exporter-injector', namespace: 'exporter-injector', sans: DEV_SANS });

let server: tls.Server;
let port: number;

before(async () => {
  server = tls.createServer({ cert: serving.cert, key: serving.key, minVersion: 'TLSv1.2' }, (socket) => {
    socket.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.close();
  await once(server, 'close');
});

/** Connects, reads the server's reply, and resolves with it; rejects with the TLS error. */
function exchange(options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    let reply = '';
    socket.setTimeout(SOCKET_TIMEOUT_MS, () => socket.destroy(new Error('handshake did not finish')));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => void (reply += chunk));
    socket.on('end', () => resolve(reply));
    socket.on('error', reject);
  });
}

describe('TLS handshake with the generated pair', () => {
  it('succeeds for the Service name with only the CA trusted', async () => {
    assert.equal(await exchange({ ca: ca.cert, servername: SERVICE_NAME }), 'ok');
  });

  it('succeeds for every Service name form and the dev names', async () => {
    for (const servername of ['exporter-injector', 'exporter-injector.exporter-injector', 'exporter-injector.exporter-injector.svc.cluster.local', 'localhost']) {
      assert.equal(await exchange({ ca: ca.cert, servername }), 'ok', servername);
    }
    // Without a server name the client checks the address against the IP SANs.
    assert.equal(await exchange({ ca: ca.cert }), 'ok');
  });

  it('fails for a name the certificate does not cover', async () => {
    await assert.rejects(exchange({ ca: ca.cert, servername: 'exporter-injector.other.svc' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it('fails for a client that trusts another CA', async () => {
    const stranger = generateCa();
    await assert.rejects(exchange({ ca: stranger.cert, servername: SERVICE_NAME }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('fails for a client that trusts only the system CAs', async () => {
    await assert.rejects(exchange({ servername: SERVICE_NAME }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });
});

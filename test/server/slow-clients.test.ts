// Clients that hold the webhook's connections without finishing anything: a TLS handshake never
// completed, headers or a body trickled a byte at a time, connections left idle. Each is cut off
// by its timeout (short ones here; docs/reliability.md gives the defaults and why), and an
// API-server-like client is served normally all the while.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { parseServeConfig } from '../../src/config/serve-config.js';
import type { RunningWebhook } from '../../src/server/runtime.js';
import { ApiServerStandIn, podReview, SERVICE_NAME } from '../helpers/api-server-standin.js';
import { optedInPod, servedWebhook } from './fixtures.js';

/** A bound for waits that must end by themselves; far above every timeout configured here. */
const GIVE_UP_MS = 15_000;

interface Ended {
  /** What the server sent before closing (a 408 answer, or nothing). */
  readonly received: string;
  readonly how: string;
}

/** Resolves when the server closes the socket; rejects if it is still open after GIVE_UP_MS. */
function closedByServer(socket: Socket | TLSSocket): Promise<Ended> {
  let received = '';
  socket.on('data', (c: Buffer) => void (received += c.toString('latin1')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server still held the connection after ${GIVE_UP_MS} ms`));
    }, GIVE_UP_MS);
    const done = (how: string) => {
      clearTimeout(timer);
      resolve({ received, how });
    };
    socket.once('end', () => done('end'));
    socket.once('close', () => done('close'));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

describe('slow and idle clients are cut off while others are served', () => {
  let webhook: RunningWebhook;
  let caCert: string;
  let apiServer: ApiServerStandIn;
  let stop: () => Promise<void>;

  before(async () => {
    ({ webhook, apiServer, caCert, stop } = await servedWebhook('slow', ['--handshake-timeout', '1', '--headers-timeout', '1', '--request-timeout', '2', '--keep-alive-timeout', '1', '--log-level', 'warn'], 2));
  });
  after(() => stop());

  const tls = async (): Promise<TLSSocket> => {
    const socket = tlsConnect({ host: '127.0.0.1', port: webhook.httpsPort, ca: caCert, servername: SERVICE_NAME });
    await once(socket, 'secureConnect');
    return socket;
  };
  /** Writes `text` one byte at a time, `gapMs` apart, until done or the socket closes. */
  const trickle = async (socket: Socket, text: string, gapMs: number): Promise<void> => {
    for (const byte of text) {
      if (socket.destroyed || socket.writableEnded) return;
      socket.write(byte);
      await new Promise((r) => setTimeout(r, gapMs));
    }
  };
  const goodRequestsWhile = async (attack: Promise<unknown>): Promise<number> => {
    let served = 0;
    let attacking = true;
    void attack.finally(() => (attacking = false));
    while (attacking) {
      const answer = await apiServer.review(optedInPod());
      assert.ok(answer.patch && answer.patch.length > 0);
      served += 1;
    }
    return served;
  };

  it('closes a connection whose TLS handshake never finishes (handshake timeout)', async () => {
    const socket = netConnect({ host: '127.0.0.1', port: webhook.httpsPort });
    await once(socket, 'connect');
    // The first bytes of a TLS record header, then nothing.
    socket.write(Buffer.from([0x16, 0x03, 0x01]));
    const ended = closedByServer(socket);
    const served = await goodRequestsWhile(ended);
    assert.equal((await ended).received, '', 'nothing is sent to a client that never finished its handshake');
    assert.ok(served > 0);
  });

  it('answers 408 and closes when headers trickle in past the headers timeout', async () => {
    const socket = await tls();
    const ended = closedByServer(socket);
    void trickle(socket, `POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Pad: ${'a'.repeat(200)}\r\n`, 50);
    const served = await goodRequestsWhile(ended);
    assert.match((await ended).received, /^HTTP\/1\.1 408 /);
    assert.ok(served > 0, 'good requests were answered during the attack');
  });

  it('answers 408 and closes when a body trickles in past the request timeout', async () => {
    const socket = await tls();
    const ended = closedByServer(socket);
    const body = JSON.stringify(podReview(optedInPod()).review);
    socket.write(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    void trickle(socket, body, 50);
    const served = await goodRequestsWhile(ended);
    assert.match((await ended).received, /^HTTP\/1\.1 408 /);
    assert.ok(served > 0);
  });

  it('closes a connection that never sends a request (headers timeout)', async () => {
    const socket = await tls();
    const ended = await closedByServer(socket);
    assert.doesNotMatch(ended.received, /^HTTP\/1\.1 [^4]/);
  });

  it('closes an idle keep-alive connection after its request was answered (keep-alive timeout)', async () => {
    const socket = await tls();
    const ended = closedByServer(socket);
    const body = JSON.stringify(podReview(optedInPod()).review);
    socket.write(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const { received } = await ended;
    assert.match(received, /^HTTP\/1\.1 200 /);
    assert.match(received, /Keep-Alive: timeout=1/i);
  });
});

describe('timeout and connection settings', () => {
  const probe = { kind: () => 'file' as const };
  const problems = (argv: string[], env: Record<string, string> = {}): string => {
    try {
      parseServeConfig(argv, env, probe);
      return '';
    } catch (e) {
      return ((e as { details?: string[] }).details ?? []).join('\n');
    }
  };

  it('takes each from its flag or environment variable', () => {
    const config = parseServeConfig(['--handshake-timeout', '2', '--request-timeout', '12.5', '--max-connections', '0'], { EXPORTER_INJECTOR_HEADERS_TIMEOUT: '3', EXPORTER_INJECTOR_KEEP_ALIVE_TIMEOUT: '120' }, probe);
    assert.deepEqual(config.connectionLimits, { handshakeTimeoutSeconds: 2, headersTimeoutSeconds: 3, requestTimeoutSeconds: 12.5, keepAliveTimeoutSeconds: 120, maxConnections: 0 });
  });

  it('names each invalid one and what is valid', () => {
    const text = problems(['--handshake-timeout', '0', '--max-connections', 'many'], { EXPORTER_INJECTOR_KEEP_ALIVE_TIMEOUT: '1m' });
    assert.match(text, /--handshake-timeout "0": want a number of seconds from 0\.1 to 300/);
    assert.match(text, /--max-connections "many": want a whole number of connections/);
    assert.match(text, /EXPORTER_INJECTOR_KEEP_ALIVE_TIMEOUT "1m": want a number of seconds/);
    assert.match(problems(['--headers-timeout', '20', '--request-timeout', '10']), /--headers-timeout 20 is longer than --request-timeout 10/);
  });
});

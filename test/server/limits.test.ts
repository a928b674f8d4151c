// Bodies at and just over the size limit, and clients that go away mid-body or mid-response:
// each gets its answer (or none, having left), and the next request is served normally.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { RunningWebhook } from '../../src/server/runtime.js';
import { ApiServerStandIn, podReview, SERVICE_NAME } from '../helpers/api-server-standin.js';
import { optedInPod, servedWebhook } from './fixtures.js';

const LIMIT = 3 * 1024 * 1024;

/** A valid review of an opted-in pod padded with JSON whitespace to exactly `bytes`. */
function reviewOfSize(bytes: number): { uid: string; body: string } {
  const { uid, review } = podReview(optedInPod());
  const text = JSON.stringify(review);
  assert.ok(text.length < bytes);
  return { uid, body: text.slice(0, -1) + ' '.repeat(bytes - text.length) + '}' };
}

describe('body size limit and clients that leave early', () => {
  let webhook: RunningWebhook;
  let caCert: string;
  let apiServer: ApiServerStandIn;
  let stop: () => Promise<void>;

  before(async () => {
    ({ webhook, apiServer, caCert, stop } = await servedWebhook('limits', ['--body-limit', '3Mi', '--log-level', 'warn'], 1));
  });
  after(() => stop());

  const nextRequestServed = async (): Promise<void> => {
    const answer = await apiServer.review(optedInPod());
    assert.ok(answer.patch && answer.patch.length > 0, 'the next review is injected');
  };

  it('answers a body of exactly the limit', async () => {
    const { uid, body } = reviewOfSize(LIMIT);
    assert.equal(Buffer.byteLength(body), LIMIT);
    const answer = await apiServer.send(body);
    assert.equal(answer.status, 200, answer.body.slice(0, 300));
    assert.equal((JSON.parse(answer.body) as { response: { uid: string } }).response.uid, uid);
    await nextRequestServed();
  });

  it('refuses a body one byte over the limit with 413 EI_ERR_HTTP_BODY_TOO_LARGE', async () => {
    const answer = await apiServer.send(reviewOfSize(LIMIT + 1).body);
    assert.equal(answer.status, 413);
    assert.equal((JSON.parse(answer.body) as { code: string }).code, 'EI_ERR_HTTP_BODY_TOO_LARGE');
    await nextRequestServed();
  });

  const connectTls = async (): Promise<TLSSocket> => {
    const socket = tlsConnect({ host: '127.0.0.1', port: webhook.httpsPort, ca: caCert, servername: SERVICE_NAME });
    await once(socket, 'secureConnect');
    return socket;
  };

  it('answers a review sent chunked, without a Content-Length', async () => {
    const socket = await connectTls();
    let received = '';
    socket.on('data', (c: Buffer) => void (received += c.toString('latin1')));
    const { uid, body } = reviewOfSize(64 * 1024);
    const half = body.length / 2;
    socket.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
    for (const chunk of [body.slice(0, half), body.slice(half)]) socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
    // The last chunk, without ending the socket: a client that half-closes may get no answer
    // (docs/reliability.md); with Connection: close the webhook closes after answering.
    socket.write('0\r\n\r\n');
    await once(socket, 'close');
    assert.match(received, /^HTTP\/1\.1 200 /);
    assert.ok(received.includes(`"uid":"${uid}"`), received.slice(0, 300));
    await nextRequestServed();
  });

  it('refuses a chunked body over the limit (no Content-Length to check first) with 413', async () => {
    const socket = await connectTls();
    let received = '';
    socket.on('data', (c: Buffer) => void (received += c.toString('latin1')));
    socket.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = ' '.repeat(256 * 1024);
    for (let sent = 0; sent <= LIMIT && !socket.destroyed && received === ''; sent += chunk.length) {
      if (!socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)) await once(socket, 'drain');
    }
    if (!socket.destroyed) socket.end('0\r\n\r\n');
    await Promise.race([once(socket, 'close'), once(socket, 'end')]);
    assert.match(received, /^HTTP\/1\.1 413 /);
    await nextRequestServed();
  });

  it('serves the next request after a client disconnects mid-body', async () => {
    for (let i = 0; i < 20; i++) {
      const socket = await connectTls();
      const { body } = reviewOfSize(64 * 1024);
      socket.write(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 1000 + i * 1000)}`);
      await new Promise((r) => setTimeout(r, 5));
      socket.destroy();
    }
    await nextRequestServed();
  });

  it('serves the next request after clients disconnect before or while reading the answer', async () => {
    const { body } = reviewOfSize(2 * 1024 * 1024);
    for (let i = 0; i < 10; i++) {
      const socket = await connectTls();
      socket.write(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      // Gone before the answer, or after its first bytes.
      if (i % 2 === 1) await once(socket, 'data');
      socket.destroy();
    }
    await nextRequestServed();
    assert.equal(webhook.readiness().ready, true);
  });
});

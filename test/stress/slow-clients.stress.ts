// Hundreds of misbehaving clients at once against the real `serve` with its default timeouts
// (docs/reliability.md): handshakes never finished, headers and bodies trickled a byte at a time,
// connections opened and left idle. Every one must be cut off by the server, and an API-server-like
// client keeps being answered all the while. Its latency with and without the attack is reported,
// not asserted (the machine is shared); what is asserted is that every good request succeeds.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { DEFAULT_CONNECTION_LIMITS } from '../../src/server/connection-limits.js';
import { ApiServerStandIn, podReview, SERVICE_NAME } from '../helpers/api-server-standin.js';
import { optedInPod } from '../server/fixtures.js';
import { startServeProcess, type ServeProcess } from './serve-process.js';

const PER_KIND = Number(process.env.STRESS_SLOW_CLIENTS ?? 150);
/** Far beyond the longest default timeout: a client still open then was never cut off. */
const GIVE_UP_MS = 4 * DEFAULT_CONNECTION_LIMITS.requestTimeoutSeconds * 1000;

type Kind = 'handshake never finished' | 'headers trickled' | 'body trickled' | 'idle after handshake';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

describe(`${PER_KIND * 4} slow clients against serve with its default timeouts`, () => {
  let serve: ServeProcess;
  let standIn: ApiServerStandIn;
  before(async () => {
    serve = await startServeProcess(['--log-level', 'warn']);
    standIn = new ApiServerStandIn({ port: serve.httpsPort, caCert: serve.caCert, maxSockets: 1 });
  });
  after(async () => {
    standIn?.close();
    await serve?.stop();
  });

  /** One misbehaving client; resolves with how long the server took to close it. */
  async function slowClient(kind: Kind): Promise<number> {
    const started = performance.now();
    let socket: Socket;
    if (kind === 'handshake never finished') {
      socket = netConnect({ host: '127.0.0.1', port: serve.httpsPort });
      await once(socket, 'connect');
      socket.write(Buffer.from([0x16, 0x03, 0x01]));
    } else {
      socket = tlsConnect({ host: '127.0.0.1', port: serve.httpsPort, ca: serve.caCert, servername: SERVICE_NAME });
      await once(socket, 'secureConnect');
    }
    socket.on('data', () => {});
    const closed = new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.once('error', () => resolve());
    });
    const body = JSON.stringify(podReview(optedInPod()).review);
    const text =
      kind === 'headers trickled'
        ? `POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Pad: ${'a'.repeat(10_000)}\r\n\r\n`
        : kind === 'body trickled'
          ? body
          : '';
    if (kind === 'body trickled') socket.write(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    let open = true;
    void closed.then(() => (open = false));
    const giveUp = setTimeout(() => socket.destroy(new Error('never cut off')), GIVE_UP_MS);
    for (let i = 0; open && i < text.length; i++) {
      socket.write(text[i]!);
      await new Promise((r) => setTimeout(r, 200));
    }
    await closed;
    clearTimeout(giveUp);
    if (performance.now() - started >= GIVE_UP_MS) throw new Error(`${kind}: the server never closed the connection`);
    return (performance.now() - started) / 1000;
  }

  async function goodLatencies(while_: () => boolean, atLeast: number): Promise<number[]> {
    const latencies: number[] = [];
    while (while_() || latencies.length < atLeast) {
      const t = performance.now();
      const answer = await standIn.review(optedInPod());
      latencies.push(performance.now() - t);
      assert.ok(answer.patch && answer.patch.length > 0, 'a good review is injected');
    }
    return latencies;
  }

  it('cuts every slow client off by its timeout and keeps answering good reviews', { timeout: 600_000 }, async () => {
    await goodLatencies(() => false, 200); // warm-up (JIT, TLS session), not measured
    const baseline = await goodLatencies(() => false, 500);
    const kinds: Kind[] = ['handshake never finished', 'headers trickled', 'body trickled', 'idle after handshake'];
    let attacking = true;
    const attack = Promise.all(kinds.map(async (kind) => ({ kind, seconds: await Promise.all(Array.from({ length: PER_KIND }, () => slowClient(kind))) })));
    void attack.finally(() => (attacking = false)).catch(() => {});
    const during = await goodLatencies(() => attacking, 1);
    const results = await attack;

    const cutOff = Object.fromEntries(results.map((r) => [r.kind, { clients: r.seconds.length, closedAfterSeconds: { min: +Math.min(...r.seconds).toFixed(1), max: +Math.max(...r.seconds).toFixed(1) } }]));
    const ms = (v: number) => +v.toFixed(1);
    console.log(
      JSON.stringify({
        slowClients: {
          timeouts: DEFAULT_CONNECTION_LIMITS,
          cutOff,
          goodClientMs: {
            withoutAttack: { requests: baseline.length, p50: ms(percentile(baseline, 50)), p99: ms(percentile(baseline, 99)) },
            duringAttack: { requests: during.length, p50: ms(percentile(during, 50)), p99: ms(percentile(during, 99)) },
          },
        },
      }),
    );
    assert.ok(during.length > 0, 'good reviews were answered during the attack');
    assert.ok(serve.alive());
    assert.equal((await fetch(`http://127.0.0.1:${serve.healthPort}/readyz`)).status, 200);
  });
});

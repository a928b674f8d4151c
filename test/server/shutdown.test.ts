// SIGTERM on the real `serve` process: readiness goes false, new connections are refused,
// requests in flight are answered, and the process exits within --drain-timeout.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { request } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiServerStandIn, podReview, SERVICE_NAME } from '../helpers/api-server-standin.js';
import { flow, healthGet, moreRequests, optedInPod, servingCertDir, testPki, until } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ServeProcess {
  readonly child: ChildProcess;
  readonly lines: () => Record<string, unknown>[];
  readonly ports: { https: number; health: number };
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];

async function startServe(certDir: string, extra: string[]): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--tls-cert', join(certDir, 'tls.crt'), '--tls-key', join(certDir, 'tls.key'), '--sidecar-mode', 'native', ...extra],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  await until('serve to start listening', () => {
    if (exitedEarly) throw new Error(`serve exited during start-up:\n${out}\n${err}`);
    return lines().some((l) => l.msg === 'serving');
  }, 30_000);
  const serving = lines().find((l) => l.msg === 'serving')!;
  return { child, lines, ports: { https: serving.httpsPort as number, health: serving.healthPort as number }, exited };
}

/**
 * A request whose headers the server has received (it answered 100 Continue) and whose body is
 * sent only when finish() is called: a request that is unambiguously in flight.
 */
async function inFlight(port: number, caCert: string, body: string) {
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/mutate?timeout=10s',
    servername: SERVICE_NAME,
    ca: caCert,
    agent: false,
    headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), Expect: '100-continue' },
  });
  const response = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }));
    });
    req.on('error', reject);
  });
  // Keep a rejection from being unhandled before the test awaits it.
  response.catch(() => undefined);
  const continued = once(req, 'continue');
  req.flushHeaders();
  await continued;
  return { finish: () => req.end(body), response };
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

describe('serve on SIGTERM', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('stops being ready, refuses new connections, answers every request in flight, and exits 0', async () => {
    const pki = testPki();
    const { dir } = await servingCertDir('sigterm', pki);
    dirs.push(dir);
    const serve = await startServe(dir, ['--drain-timeout', '20']);

    const apiServer = new ApiServerStandIn({ port: serve.ports.https, caCert: pki.ca.cert, maxSockets: 4 });
    const load = flow(4, async () => {
      const answer = await apiServer.review(optedInPod());
      assert.ok(answer.patch, 'injected');
    });
    await moreRequests(load, 20);

    const reviews = [0, 1, 2].map(() => podReview(optedInPod()));
    const pending = await Promise.all(reviews.map((r) => inFlight(serve.ports.https, pki.ca.cert, JSON.stringify(r.review))));

    serve.child.kill('SIGTERM');
    await until('readiness to turn false', async () => (await healthGet(serve.ports.health, '/readyz')).status === 503);
    const ready = await healthGet(serve.ports.health, '/readyz');
    assert.match(ready.body, /shutting down/);
    await until('new connections to be refused', () => refusesConnections(serve.ports.https));

    // Requests racing the shutdown on kept-alive connections may only fail at the connection
    // level (the API server's failurePolicy covers that); never with an HTTP error or a bad answer.
    const { ok, failures } = await load.stop();
    apiServer.close();
    assert.ok(ok >= 20);
    for (const f of failures) {
      const code = (f as NodeJS.ErrnoException).code ?? '';
      assert.ok(CONNECTION_ERRORS.has(code) || /socket hang up/.test(String(f)), `a request failed otherwise than by a closed connection: ${String(f)}`);
    }

    for (const p of pending) p.finish();
    const answers = await Promise.all(pending.map((p) => p.response));
    answers.forEach((answer, i) => {
      assert.equal(answer.status, 200, answer.body);
      assert.equal(answer.connection, 'close', 'answers while draining close the connection');
      const review = JSON.parse(answer.body) as { response: { uid: string; allowed: boolean; patchType?: string } };
      assert.equal(review.response.uid, reviews[i]!.uid);
      assert.equal(review.response.patchType, 'JSONPatch');
    });

    const exit = await serve.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    const messages = serve.lines().map((l) => l.msg);
    assert.ok(messages.includes('signal received'));
    assert.equal(serve.lines().find((l) => l.msg === 'shut down')?.forced, false);
  });

  it('keeps answering new connections for --shutdown-delay while unready, then drains and exits 0', async () => {
    const pki = testPki();
    const { dir } = await servingCertDir('shutdown-delay', pki);
    dirs.push(dir);
    const serve = await startServe(dir, ['--shutdown-delay', '3', '--drain-timeout', '5']);

    serve.child.kill('SIGTERM');
    await until('readiness to turn false', async () => (await healthGet(serve.ports.health, '/readyz')).status === 503);
    // A client that still routes to this pod (endpoint removal not yet seen) is served normally.
    const lateComer = new ApiServerStandIn({ port: serve.ports.https, caCert: pki.ca.cert, maxSockets: 1 });
    const answer = await lateComer.review(optedInPod());
    lateComer.close();
    assert.ok(answer.patch, 'answered during the shutdown delay');
    assert.equal(serve.child.exitCode, null, 'still running during the delay');

    const exit = await serve.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
  });

  it('exits after --drain-timeout even when a request never completes', async () => {
    const pki = testPki();
    const { dir } = await servingCertDir('drain-bound', pki);
    dirs.push(dir);
    const serve = await startServe(dir, ['--drain-timeout', '1']);

    // Its body never comes.
    const stuck = await inFlight(serve.ports.https, pki.ca.cert, JSON.stringify(podReview(optedInPod()).review));
    serve.child.kill('SIGTERM');
    const exit = await serve.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    await assert.rejects(stuck.response, 'the stuck connection is cut');
    assert.ok(serve.lines().some((l) => l.msg === 'drain timeout reached; closing the connections still open'));
    assert.equal(serve.lines().find((l) => l.msg === 'shut down')?.forced, true);
  });
});

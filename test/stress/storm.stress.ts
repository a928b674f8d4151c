// A connection storm, as when every API server restarts at once: 1,000 TLS connections opened
// together, each sending one review. Each must be answered (an AdmissionReview with its uid) or
// refused cleanly (the connection closed or reset, never a wrong or half answer); the server's
// memory stays bounded (peak resident memory reported) and it is alive and ready afterwards.
// The second run caps connections with --max-connections to show what refusing looks like.
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { after, describe, it } from 'node:test';
import { ApiServerStandIn, podReview } from '../helpers/api-server-standin.js';
import { optedInPod } from '../server/fixtures.js';
import { mib, rssOf, startServeProcess, type ServeProcess } from './serve-process.js';

const CONNECTIONS = Number(process.env.STRESS_STORM_CONNECTIONS ?? 1000);
/** Resident memory the storm may add on top of the idle server: ~100 KiB a TLS connection, doubled. */
const MEMORY_BOUND = 256 * 1024 * 1024;

async function storm(serve: ServeProcess): Promise<{ answered: number; refused: Record<string, number>; wrong: string[]; idleRss: number; peakRss: number; seconds: number }> {
  const standIn = new ApiServerStandIn({ port: serve.httpsPort, caCert: serve.caCert });
  const idleRss = await rssOf(serve.pid);
  let peakRss = idleRss;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakRss = Math.max(peakRss, await rssOf(serve.pid).catch(() => 0));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const refused: Record<string, number> = {};
  const wrong: string[] = [];
  let answered = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, i) => {
      const { uid, review } = podReview(optedInPod(), { uid: `storm-${i}` });
      // A connection of its own each (agent: false), all opened in the same tick.
      const agent = new Agent({ keepAlive: false, ca: serve.caCert });
      try {
        const answer = await standIn.send(JSON.stringify(review), { 'Content-Type': 'application/json' }, agent);
        const body = JSON.parse(answer.body) as { response?: { uid?: string; patch?: string } };
        if (answer.status === 200 && body.response?.uid === uid && body.response.patch) answered += 1;
        else wrong.push(`storm-${i}: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        // Refused cleanly: the connection was closed or reset before any answer.
        if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE'].includes(code) || /socket hang up|disconnected before secure/.test(code)) refused[code] = (refused[code] ?? 0) + 1;
        else wrong.push(`storm-${i}: ${code}`);
      } finally {
        agent.destroy();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  sampling = false;
  await sampler;
  standIn.close();
  return { answered, refused, wrong, idleRss, peakRss, seconds };
}

describe(`a storm of ${CONNECTIONS} connections at once`, () => {
  const started: ServeProcess[] = [];
  after(async () => {
    for (const s of started) await s.stop();
  });

  for (const cap of [undefined, Math.floor(CONNECTIONS / 4)]) {
    it(cap === undefined ? 'answers every one (default --max-connections)' : `answers up to --max-connections ${cap} and refuses the rest cleanly`, { timeout: 300_000 }, async () => {
      const serve = await startServeProcess(['--log-level', 'warn', ...(cap === undefined ? [] : ['--max-connections', String(cap)])]);
      started.push(serve);
      const result = await storm(serve);
      console.log(
        JSON.stringify({ storm: { connections: CONNECTIONS, maxConnections: cap ?? 'default', answered: result.answered, refused: result.refused, wrong: result.wrong.length, seconds: +result.seconds.toFixed(1), idleRss: mib(result.idleRss), peakRss: mib(result.peakRss) } }),
      );
      assert.deepEqual(result.wrong.slice(0, 5), [], 'every connection is answered correctly or refused cleanly');
      if (cap === undefined) assert.equal(result.answered, CONNECTIONS, 'under the default cap every connection is answered');
      else assert.ok(result.answered >= 1, 'some connections are answered under the cap');
      assert.ok(result.peakRss - result.idleRss < MEMORY_BOUND, `resident memory grew by ${mib(result.peakRss - result.idleRss)} during the storm`);
      assert.ok(serve.alive(), `serve exited:\n${serve.output()}`);
      assert.equal((await fetch(`http://127.0.0.1:${serve.healthPort}/readyz`)).status, 200);
      const after = new ApiServerStandIn({ port: serve.httpsPort, caCert: serve.caCert });
      try {
        const answer = await after.review(optedInPod());
        assert.ok(answer.patch && answer.patch.length > 0, 'a review after the storm is injected');
      } finally {
        after.close();
      }
    });
  }
});

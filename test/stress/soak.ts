// Soak: a million admissions of mixed pods (opted in, not opted in, denied) at a steady rate
// through the real `serve` over TLS. Every answer must equal what admit() answers in this process
// for the same review (so a leak that changed behaviour, or a polluted prototype in the server,
// fails it); the figures at every 100,000 show whether memory grows after warm-up.
// Run: npm run test:soak   (SOAK_ADMISSIONS, SOAK_RATE, SOAK_CONCURRENCY override; docs/reliability.md)
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { admit } from '../../src/core/admit.js';
import { DEFAULT_IGNORED_NAMESPACES } from '../../src/core/defaults.js';
import type { Registry } from '../../src/core/types.js';
import { loadRegistry } from '../../src/registry/load.js';
import { ApiServerStandIn, podReview } from '../helpers/api-server-standin.js';
import { mib, processFigures, startServeProcess, type ProcessFigures, type ServeProcess } from './serve-process.js';
import { mixedPods } from './mixed-pods.js';

const ADMISSIONS = Number(process.env.SOAK_ADMISSIONS ?? 1_000_000);
const RATE = Number(process.env.SOAK_RATE ?? 1000); // admissions a second
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 16);
const EVERY = Number(process.env.SOAK_EVERY ?? Math.max(1, Math.round(ADMISSIONS / 10)));
/** Memory before this many admissions is warm-up (JIT, caches, pools) and not held against growth. */
const WARM_UP = Math.min(2 * EVERY, Math.floor(ADMISSIONS / 2));

interface Row extends ProcessFigures {
  readonly admissions: number;
  readonly seconds: number;
}

describe(`soak: ${ADMISSIONS} admissions at ${RATE}/s`, () => {
  let serve: ServeProcess;
  let registry: Registry;
  let standIn: ApiServerStandIn;
  before(async () => {
    registry = await loadRegistry();
    serve = await startServeProcess();
    standIn = new ApiServerStandIn({ port: serve.httpsPort, caCert: serve.caCert, maxSockets: CONCURRENCY });
  });
  after(async () => {
    standIn?.close();
    await serve?.stop();
  });

  it('answers every admission exactly as admit() does, with flat memory after warm-up and no descriptor leak', { timeout: 4 * 3600_000 }, async () => {
    const settings = { ignoredNamespaces: DEFAULT_IGNORED_NAMESPACES, defaultSidecarMode: 'native' as const };
    // Each pool entry: the review with a placeholder uid, and admit()'s answer for it.
    const pool = mixedPods(registry, 500).map((pod) => {
      const uid = '00000000-0000-4000-8000-000000000000';
      const body = JSON.stringify(podReview(pod, { uid }).review);
      const expected = admit(JSON.parse(body), registry, settings);
      return { parts: body.split(uid), expected: expected.review, decision: expected.outcome.decision };
    });
    const mix = pool.reduce<Record<string, number>>((m, p) => ((m[p.decision] = (m[p.decision] ?? 0) + 1), m), {});
    console.log(`pool of ${pool.length} pods: ${JSON.stringify(mix)}`);

    const rows: Row[] = [];
    const failures: string[] = [];
    const start = await processFigures(serve);
    const t0 = performance.now();
    rows.push({ admissions: 0, seconds: 0, ...start });
    let next = 0;
    let done = 0;
    let sampling = Promise.resolve();

    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= ADMISSIONS) return;
        const due = t0 + (i / RATE) * 1000;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const entry = pool[i % pool.length]!;
        const uid = `soak-${i}`;
        try {
          const answer = await standIn.send(entry.parts.join(uid));
          const expected = { ...entry.expected, response: { ...entry.expected.response, uid } };
          if (answer.status !== 200 || !isDeepStrictEqual(JSON.parse(answer.body), expected)) {
            failures.push(`#${i}: HTTP ${answer.status} ${answer.body.slice(0, 300)}`);
          }
        } catch (e) {
          failures.push(`#${i}: ${(e as Error).message}`);
        }
        done += 1;
        if (done % EVERY === 0) {
          const admissions = done;
          sampling = sampling.then(async () => {
            const row = { admissions, seconds: (performance.now() - t0) / 1000, ...(await processFigures(serve)) };
            rows.push(row);
            console.log(
              `${String(admissions).padStart(8)}  ${row.seconds.toFixed(0).padStart(5)} s  rss ${mib(row.rssBytes)}  heap ${mib(row.heapUsedBytes)}  loop p99 ${(row.eventLoopP99Seconds * 1000).toFixed(1)} ms  fds ${row.openFds}`,
            );
          });
        }
        if (failures.length > 100) return;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await sampling;
    const seconds = (performance.now() - t0) / 1000;
    // Idle keep-alive sockets closed, so the descriptor count compares like with like.
    standIn.agent.destroy();
    await new Promise((r) => setTimeout(r, 500));
    const end = await processFigures(serve);

    const report = { admissions: done, seconds, achievedRate: done / seconds, targetRate: RATE, concurrency: CONCURRENCY, mix, failures: failures.length, startFds: start.openFds, endFds: end.openFds, rows };
    console.log(JSON.stringify({ soak: { ...report, rows: undefined } }));
    if (process.env.SOAK_REPORT) await writeFile(process.env.SOAK_REPORT, JSON.stringify(report, null, 2));

    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failed admissions`);
    assert.ok(serve.alive(), 'serve is still running');
    assert.ok(end.openFds <= start.openFds + 2, `open descriptors ${start.openFds} at start, ${end.openFds} at the end`);
    // Flat: after warm-up, the highest later sample is within 25% (+16 MiB for GC timing) of the
    // highest warm-up-era sample. A leak of even 100 bytes an admission over 800,000 breaks it.
    const warm = rows.filter((r) => r.admissions > 0 && r.admissions <= WARM_UP);
    const later = rows.filter((r) => r.admissions > WARM_UP);
    if (warm.length > 0 && later.length > 0) {
      for (const key of ['rssBytes', 'heapUsedBytes'] as const) {
        const base = Math.max(...warm.map((r) => r[key]));
        const peak = Math.max(...later.map((r) => r[key]));
        assert.ok(peak <= base * 1.25 + 16 * 1024 * 1024, `${key} grew after warm-up: ${mib(base)} at ${WARM_UP} admissions, up to ${mib(peak)} later`);
      }
    }
  });
});

// What the webhook's handler adds to a bare server's request, measured in one process, away from
// the sockets and the scheduler: admit() + the metrics + the admission log line + the answer's
// JSON text, per body (the body parse both servers pay is shown for scale). With --against DIR
// (another build's dist/ folder, e.g. of an older commit), both builds run interleaved, paired.
//   node dist/bench/handler-work.js [--against /path/to/other/dist]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { review, SHAPES, type BodyName } from './pods.js';

type Handler = (body: unknown) => string;

const { values: flags } = parseArgs({ options: { against: { type: 'string' } } });
const here = new URL('../', import.meta.url); // dist/

async function handlerOf(dist: URL): Promise<Handler> {
  const load = async (path: string) => (await import(new URL(path, dist).href)) as Record<string, any>;
  const { admit } = await load('src/core/admit.js');
  const { loadRegistry } = await load('src/registry/load.js');
  const { DEFAULT_CORE_SETTINGS } = await load('src/core/defaults.js');
  const { createMetrics } = await load('src/server/metrics.js');
  const { createLogger } = await load('src/server/logger.js');
  const app = await load('src/server/app.js');
  // Older builds let fastify JSON.stringify the review.
  const answerText: (review: unknown) => string = app.reviewJson ?? JSON.stringify;
  const registry = await loadRegistry();
  const metrics = createMetrics({ processMetrics: false });
  const logger = createLogger('info', pino.destination({ dest: '/dev/null', sync: true }));
  // Older builds log the admission line through pino.
  const admissionLog = await load('src/server/admission-log.js').then(
    (m) => new m.AdmissionLog(logger),
    () => undefined,
  );
  return (body) => {
    const result = admit(body, registry, DEFAULT_CORE_SETTINGS);
    const o = result.outcome;
    metrics.recordOutcome(o, 0.0001);
    const level = o.decision === 'skipped' ? 'debug' : 'info';
    const fields = { uid: result.request.uid, namespace: result.request.namespace, pod: result.request.name, decision: o.decision, reason: o.reason, templates: o.templates, problems: o.problems.map((p: { code: string }) => p.code), warnings: o.warnings.length, patchOperations: o.patchOperations, durationMs: 0.1, dryRun: result.request.dryRun };
    if (!admissionLog) logger[level](fields, 'admission');
    else if (admissionLog.enabled(level)) admissionLog.write(level, fields);
    return answerText(result.review);
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const builds: Record<string, Handler> = { this: await handlerOf(here) };
if (flags.against) builds.other = await handlerOf(pathToFileURL(`${resolve(flags.against)}/`));
const sizes = Object.keys(SHAPES) as BodyName[];
const bodies = Object.fromEntries(sizes.map((s) => [s, Array.from({ length: 200 }, () => JSON.parse(JSON.stringify(review(s))) as unknown)]));
for (const handle of Object.values(builds)) for (const s of sizes) for (const b of bodies[s]!) handle(b);

const micros: Record<string, number[]> = {};
for (let round = 0; round < 7; round += 1) {
  for (const s of sizes) {
    for (const [name, handle] of Object.entries(builds)) {
      let n = 0;
      const start = performance.now();
      while (performance.now() - start < 250) {
        for (const b of bodies[s]!) handle(b);
        n += bodies[s]!.length;
      }
      (micros[`${s}/${name}`] ??= []).push(((performance.now() - start) * 1000) / n);
    }
  }
}
for (const s of sizes) {
  const text = JSON.stringify(review(s));
  const parse: number[] = [];
  for (let r = 0; r < 5; r += 1) {
    let n = 0;
    const start = performance.now();
    while (performance.now() - start < 100) {
      JSON.parse(text);
      n += 1;
    }
    parse.push(((performance.now() - start) * 1000) / n);
  }
  const mine = micros[`${s}/this`]!;
  const other = micros[`${s}/other`];
  const vs = other ? `, --against ${median(other).toFixed(1)} µs (this/against ${median(mine.map((v, i) => v / other[i]!)).toFixed(2)}x)` : '';
  console.log(`${s.padEnd(8)} handler work ${median(mine).toFixed(1)} µs${vs}; JSON.parse of the body ${median(parse).toFixed(1)} µs`);
}

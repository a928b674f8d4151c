// `npm run bench`: the compiled `exporter-injector serve` (default flags, under the image's node
// flags) against a bare fastify HTTPS baseline that parses the body and answers a fixed review
// (under node's defaults, unless --same-flags), both started and measured in this run, on the same
// machine, in interleaved rounds (baseline then webhook, then webhook then baseline, ...) so that
// drift and other load hit both alike; every figure is a median over rounds, every ratio is
// webhook / baseline, and the table also gives each throughput ratio's lowest and highest round.
// See docs/performance.md.
//
//   npm run bench                  full run (~3 minutes), table on stdout
//   npm run bench -- --smoke       a few seconds: one short round, small pod and skip path only
//   npm run bench -- --json        JSON on stdout (the table goes to stderr)
//   npm run bench -- --out FILE    also write the JSON to FILE
//   npm run bench -- --rounds N    rounds of interleaved windows (default 3)
//   npm run bench -- --profile DIR run the webhook under node --cpu-prof, profile written to DIR
//   npm run bench -- --same-flags  the baseline also runs under the image's node flags (like for like)
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CORE_SETTINGS } from '../src/core/defaults.js';
import { loadRegistry } from '../src/registry/load.js';
import { admitOpsPerSecond } from './admit.js';
import { bodies as makeBodies, type BodyName } from './pods.js';
import { fixedRate } from './rate.js';
import { hasWrk, makeAgent, nodeLoop, wrk, writeWrkScript, type SaturationResult } from './saturate.js';
import { imageNodeFlags, startTarget, writeServingCertificate, type Target, type TargetKind } from './targets.js';

const { values: flags } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
    rounds: { type: 'string' },
    profile: { type: 'string' },
    'same-flags': { type: 'boolean', default: false },
  },
});

const SMOKE = flags.smoke === true;
const ROUNDS = flags.rounds !== undefined ? Math.max(1, Number(flags.rounds)) : SMOKE ? 1 : 3;
const STARTS = SMOKE ? 1 : 3;
const SATURATION_SECONDS = SMOKE ? 1 : 2;
const RATE_SECONDS = SMOKE ? 1 : 3;
/** A p99 needs samples: each fixed-rate window runs long enough for this many requests. */
const RATE_MIN_REQUESTS = SMOKE ? 0 : 1000;
const rateSeconds = (rate: number) => Math.max(RATE_SECONDS, Math.ceil(RATE_MIN_REQUESTS / rate));
const WARMUP_SECONDS = 1;
const CONNECTIONS = 16;
const IDLE_SETTLE_MS = SMOKE ? 300 : 1000;
const SATURATED: readonly BodyName[] = SMOKE ? ['small', 'skip'] : ['small', 'typical', 'large', 'skip'];
/** The fixed rates: a steady stream of pod creations, well under either target's ceiling. */
const RATES: Partial<Record<BodyName, number>> = SMOKE ? { small: 500 } : { small: 500, typical: 500, large: 100 };
const KINDS: readonly TargetKind[] = ['baseline', 'webhook'];

/** The issue 12 targets: webhook / baseline. */
const TARGETS = {
  throughput: { small: 0.85, typical: 0.85, large: 0.8, skip: 0.95 } as Record<BodyName, number>,
  p99AtRate: 1.3,
  rss: 1.3,
  readyMs: 500,
};

const root = process.cwd();
const table: string[] = [];
const say = (line = '') => table.push(line);

function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-');
const MIB = 1024 * 1024;

interface SaturationRound extends SaturationResult {
  readonly cpuMicrosPerRequest: number;
  readonly rssMaxBytes: number;
}

async function main(): Promise<void> {
  const began = Date.now();
  const work = await mkdtemp(join(tmpdir(), 'ei-bench-'));
  // Server on CPU 1, generator (wrk, this process) on CPU 0: they do not take turns on one core.
  const pinned = cpus().length >= 2;
  const serverCpus = pinned ? '1' : undefined;
  const generatorCpus = pinned ? '0' : undefined;
  if (pinned) execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });

  const caCert = await writeServingCertificate(work);
  const bodies = makeBodies();
  const bodyFiles = {} as Record<BodyName, string>;
  for (const [name, body] of Object.entries(bodies) as [BodyName, Buffer][]) {
    bodyFiles[name] = join(work, `${name}.json`);
    await writeFile(bodyFiles[name], body);
  }
  const useWrk = await hasWrk();
  const script = useWrk ? await writeWrkScript(work) : '';
  const profileDir = flags.profile !== undefined ? resolve(flags.profile) : undefined;
  // startTarget gives the webhook the image's node flags; these come after them.
  const baselineFlags = flags['same-flags'] ? imageNodeFlags(root) : [];
  const targetOptions = (kind: TargetKind, profiled: boolean) => ({
    root,
    certDir: work,
    home: work,
    cpus: serverCpus,
    nodeFlags: kind === 'baseline' ? baselineFlags : profiled && profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
  });

  // 1. Start-up: time to /readyz and idle RSS, fresh processes, interleaved.
  const readyMs: Record<TargetKind, number[]> = { baseline: [], webhook: [] };
  const idleRss: Record<TargetKind, number[]> = { baseline: [], webhook: [] };
  for (let i = 0; i < STARTS; i += 1) {
    for (const kind of KINDS) {
      const t = await startTarget(kind, targetOptions(kind, false));
      readyMs[kind].push(t.readyMs);
      await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
      idleRss[kind].push(t.stats().rssBytes);
      await t.stop();
    }
  }

  // 2. Load, against one long-running process of each.
  const targets = {} as Record<TargetKind, Target>;
  for (const kind of KINDS) targets[kind] = await startTarget(kind, targetOptions(kind, true));
  const agents = Object.fromEntries(KINDS.map((k) => [k, makeAgent(caCert, CONNECTIONS)])) as Record<TargetKind, ReturnType<typeof makeAgent>>;
  const saturate = (kind: TargetKind, body: BodyName, seconds: number) =>
    useWrk
      ? wrk({ script, bodyFile: bodyFiles[body], port: targets[kind].port, connections: CONNECTIONS, seconds, cpus: generatorCpus })
      : nodeLoop(agents[kind], targets[kind].port, bodies[body], CONNECTIONS, seconds);

  const saturation: Record<string, SaturationRound[]> = {};
  const atRate: Record<string, { p50Ms: number; p99Ms: number; cpuShare: number; errors: number }[]> = {};
  const key = (kind: TargetKind, body: BodyName) => `${kind}/${body}`;
  try {
    for (const body of SATURATED) for (const kind of KINDS) if (WARMUP_SECONDS > 0) await saturate(kind, body, WARMUP_SECONDS);
    for (let round = 0; round < ROUNDS; round += 1) {
      // Which goes first alternates, so that neither always follows the other's heaviest window.
      const order = round % 2 === 0 ? KINDS : [...KINDS].reverse();
      for (const body of SATURATED) {
        for (const kind of order) {
          const t = targets[kind];
          const before = t.stats();
          let rssMax = before.rssBytes;
          const sampler = setInterval(() => (rssMax = Math.max(rssMax, t.stats().rssBytes)), 100);
          const r = await saturate(kind, body, SATURATION_SECONDS);
          clearInterval(sampler);
          const after = t.stats();
          rssMax = Math.max(rssMax, after.rssBytes);
          (saturation[key(kind, body)] ??= []).push({ ...r, cpuMicrosPerRequest: (after.cpuMicros - before.cpuMicros) / Math.max(1, r.requests), rssMaxBytes: rssMax });
        }
      }
      for (const [body, rate] of Object.entries(RATES) as [BodyName, number][]) {
        for (const kind of order) {
          const t = targets[kind];
          const before = t.stats();
          const started = process.hrtime.bigint();
          const r = await fixedRate(agents[kind], t.port, bodies[body], rate, rateSeconds(rate));
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const after = t.stats();
          (atRate[key(kind, body)] ??= []).push({ p50Ms: r.p50Ms, p99Ms: r.p99Ms, cpuShare: (after.cpuMicros - before.cpuMicros) / 1e6 / seconds, errors: r.errors });
        }
      }
    }
  } finally {
    for (const a of Object.values(agents)) a.destroy();
    await Promise.allSettled(Object.values(targets).map((t) => t.stop()));
  }

  // 3. The core alone, in this process: admit() per pod, no HTTP, no TLS.
  const registry = await loadRegistry();
  const admitMicros = Object.fromEntries(
    SATURATED.map((b) => [b, 1e6 / admitOpsPerSecond(JSON.parse(bodies[b].toString('utf8')) as unknown, registry, DEFAULT_CORE_SETTINGS, SMOKE ? 0.2 : 0.5)]),
  ) as Record<BodyName, number>;

  // 4. Figures.
  /** Each round's webhook / baseline ratio. */
  const roundRatios = (body: BodyName, pick: (r: SaturationRound) => number) =>
    saturation[key('webhook', body)]!.map((w, i) => pick(w) / pick(saturation[key('baseline', body)]![i]!));
  const paired = (body: BodyName, pick: (r: SaturationRound) => number) => median(roundRatios(body, pick));
  const range = (values: readonly number[]): [number, number] => [Math.min(...values), Math.max(...values)];
  const med = <T>(rows: readonly T[] | undefined, pick: (r: T) => number) => median((rows ?? []).map(pick));

  const results = {
    meta: {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      loadAverage: (await readFile('/proc/loadavg', 'utf8').catch(() => '')).split(' ').slice(0, 3).join(' '),
      generator: useWrk ? 'wrk (saturation), open-loop Node client (fixed rate)' : 'Node closed loop (wrk not installed), open-loop Node client (fixed rate)',
      pinned: pinned ? 'server on CPU 1, generator on CPU 0' : 'not pinned (one CPU)',
      connections: CONNECTIONS,
      rounds: ROUNDS,
      saturationSeconds: SATURATION_SECONDS,
      rateSeconds: RATE_SECONDS,
      rateMinRequests: RATE_MIN_REQUESTS,
      bodyBytes: Object.fromEntries(Object.entries(bodies).map(([n, b]) => [n, b.length])),
      nodeFlags: { baseline: baselineFlags, webhook: imageNodeFlags(root) },
      smoke: SMOKE,
    },
    startup: Object.fromEntries(
      KINDS.map((k) => [k, { readyMs: median(readyMs[k]), idleRssMiB: median(idleRss[k]) / MIB }]),
    ) as Record<TargetKind, { readyMs: number; idleRssMiB: number }>,
    saturation: Object.fromEntries(
      SATURATED.map((body) => [
        body,
        {
          ...Object.fromEntries(
            KINDS.map((k) => {
              const rows = saturation[key(k, body)];
              return [
                k,
                {
                  perSecond: med(rows, (r) => r.perSecond),
                  p50Ms: med(rows, (r) => r.p50Ms),
                  p99Ms: med(rows, (r) => r.p99Ms),
                  cpuMicrosPerRequest: med(rows, (r) => r.cpuMicrosPerRequest),
                  rssUnderLoadMiB: med(rows, (r) => r.rssMaxBytes) / MIB,
                  errors: (rows ?? []).reduce((s, r) => s + r.errors, 0),
                  // Each round's figures, in order: how far single windows moved.
                  perSecondByRound: (rows ?? []).map((r) => r.perSecond),
                  cpuMicrosPerRequestByRound: (rows ?? []).map((r) => r.cpuMicrosPerRequest),
                },
              ];
            }),
          ),
          ratio: {
            perSecond: paired(body, (r) => r.perSecond),
            cpuPerRequest: paired(body, (r) => r.cpuMicrosPerRequest),
            p99Ms: paired(body, (r) => r.p99Ms),
            rssUnderLoad: paired(body, (r) => r.rssMaxBytes),
            // The lowest and highest round: how far the machine moved the median's inputs.
            perSecondRange: range(roundRatios(body, (r) => r.perSecond)),
          },
          admitMicros: admitMicros[body],
        },
      ]),
    ) as unknown as Record<string, Record<TargetKind, { perSecond: number; p50Ms: number; p99Ms: number; cpuMicrosPerRequest: number; rssUnderLoadMiB: number; errors: number; perSecondByRound: number[]; cpuMicrosPerRequestByRound: number[] }> & { ratio: Record<string, number> & { perSecondRange: [number, number] }; admitMicros: number }>,
    fixedRate: Object.fromEntries(
      (Object.entries(RATES) as [BodyName, number][]).map(([body, rate]) => [
        body,
        {
          rate,
          ...Object.fromEntries(
            KINDS.map((k) => {
              const rows = atRate[key(k, body)];
              return [
                k,
                {
                  p50Ms: med(rows, (r) => r.p50Ms),
                  p99Ms: med(rows, (r) => r.p99Ms),
                  cpuShare: med(rows, (r) => r.cpuShare),
                  errors: (rows ?? []).reduce((s, r) => s + r.errors, 0),
                  p99MsByRound: (rows ?? []).map((r) => r.p99Ms),
                },
              ];
            }),
          ),
          ratio: {
            p99Ms: median(atRate[key('webhook', body)]!.map((w, i) => w.p99Ms / atRate[key('baseline', body)]![i]!.p99Ms)),
            cpuShare: median(atRate[key('webhook', body)]!.map((w, i) => w.cpuShare / atRate[key('baseline', body)]![i]!.cpuShare)),
          },
        },
      ]),
    ) as unknown as Record<string, { rate: number } & Record<TargetKind, { p50Ms: number; p99Ms: number; cpuShare: number; errors: number; p99MsByRound: number[] }> & { ratio: Record<string, number> }>,
    idleRssRatio: median(idleRss.webhook) / median(idleRss.baseline),
    verdicts: [] as { check: string; value: number; target: string; met: boolean; rounds?: readonly [number, number] }[],
    seconds: 0,
  };

  const verdict = (check: string, value: number, target: number, atMost: boolean, rounds?: readonly [number, number]) =>
    results.verdicts.push({ check, value, target: `${atMost ? '<=' : '>='} ${target}`, met: atMost ? value <= target : value >= target, ...(rounds ? { rounds } : {}) });
  for (const body of SATURATED) {
    const { ratio } = results.saturation[body]!;
    verdict(`throughput ${body}`, ratio.perSecond!, TARGETS.throughput[body], false, ratio.perSecondRange);
  }
  for (const body of Object.keys(RATES)) verdict(`p99 at ${RATES[body as BodyName]}/s ${body}`, results.fixedRate[body]!.ratio.p99Ms!, TARGETS.p99AtRate, true);
  verdict('RSS under load (max over sizes)', Math.max(...SATURATED.map((b) => results.saturation[b]!.ratio.rssUnderLoad!)), TARGETS.rss, true);
  verdict('RSS idle', results.idleRssRatio, TARGETS.rss, true);
  verdict('ready after start, ms', results.startup.webhook.readyMs, TARGETS.readyMs, true);
  results.seconds = (Date.now() - began) / 1000;

  // 5. The table.
  const m = results.meta;
  say(`exporter-injector bench${SMOKE ? ' (smoke: short, indicative only)' : ''}: node ${m.node}, ${m.cpus} CPU (${m.cpuModel}), load average ${m.loadAverage}`);
  say(`HTTPS/1.1 keep-alive, ${CONNECTIONS} connections; ${m.generator}; ${m.pinned}; medians of ${ROUNDS} interleaved round(s) of ${SATURATION_SECONDS} s (saturation) and ${RATE_SECONDS} s${RATE_MIN_REQUESTS > 0 ? ` or ${RATE_MIN_REQUESTS} requests, whichever is longer` : ''} (fixed rate); start-up: ${STARTS} start(s) each`);
  say(`node flags: webhook ${m.nodeFlags.webhook.join(' ') || 'none'} (the image's ENTRYPOINT), baseline ${m.nodeFlags.baseline.join(' ') || 'none'}`);
  say(`bodies: ${Object.entries(m.bodyBytes).map(([n, b]) => `${n} ${fmt(b / 1024, 1)} KB`).join(', ')} (skip = typical pod, not opted in)`);
  say();
  const cols = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const widths = [10, 10, 10, 7, 11, 10, 0, 9, 7, 12, 7, 12];
  say(cols(['pod', 'req/s base', 'webhook', 'ratio', 'rounds', 'p50 ms b/w', '', 'p99 ms b', 'w', 'CPU µs/req b', 'w', 'RSS MiB b/w'], widths));
  for (const body of SATURATED) {
    const s = results.saturation[body]!;
    say(
      cols(
        [
          body,
          fmt(s.baseline.perSecond),
          fmt(s.webhook.perSecond),
          `${fmt(s.ratio.perSecond!, 2)}x`,
          `${fmt(s.ratio.perSecondRange[0], 2)}-${fmt(s.ratio.perSecondRange[1], 2)}`,
          `${fmt(s.baseline.p50Ms, 2)}/${fmt(s.webhook.p50Ms, 2)}`,
          '',
          fmt(s.baseline.p99Ms, 2),
          fmt(s.webhook.p99Ms, 2),
          fmt(s.baseline.cpuMicrosPerRequest),
          fmt(s.webhook.cpuMicrosPerRequest),
          `${fmt(s.baseline.rssUnderLoadMiB)}/${fmt(s.webhook.rssUnderLoadMiB)}`,
        ],
        widths,
      ),
    );
  }
  say();
  for (const [body, r] of Object.entries(results.fixedRate)) {
    say(
      `at ${r.rate}/s, ${body}: p50 ${fmt(r.baseline.p50Ms, 2)} / ${fmt(r.webhook.p50Ms, 2)} ms, p99 ${fmt(r.baseline.p99Ms, 2)} / ${fmt(r.webhook.p99Ms, 2)} ms (${fmt(r.ratio.p99Ms!, 2)}x), server CPU ${fmt(r.baseline.cpuShare * 100)}% / ${fmt(r.webhook.cpuShare * 100)}% (${fmt(r.ratio.cpuShare!, 2)}x)`,
    );
  }
  say(
    `start-up: ready after ${fmt(results.startup.baseline.readyMs)} / ${fmt(results.startup.webhook.readyMs)} ms, idle RSS ${fmt(results.startup.baseline.idleRssMiB, 1)} / ${fmt(results.startup.webhook.idleRssMiB, 1)} MiB (${fmt(results.idleRssRatio, 2)}x)   (baseline / webhook)`,
  );
  say(`core admit() alone: ${SATURATED.map((b) => `${b} ${fmt(admitMicros[b], 1)} µs`).join(', ')}`);
  const errors = SATURATED.flatMap((b) => KINDS.map((k) => results.saturation[b]![k].errors)).reduce((a, b) => a + b, 0);
  if (errors > 0) say(`ERRORS: ${errors} requests failed under saturation`);
  say();
  say('targets (issue 12), webhook / baseline:');
  for (const v of results.verdicts) say(`  ${v.met ? 'meets' : 'MISSES'}  ${v.check}: ${fmt(v.value, 2)} (target ${v.target})${v.rounds ? `, rounds ${fmt(v.rounds[0], 2)}-${fmt(v.rounds[1], 2)}` : ''}`);
  say(`total ${fmt(results.seconds, 1)} s`);

  const text = table.join('\n') + '\n';
  const json = JSON.stringify(results, null, 2) + '\n';
  if (flags.json) {
    process.stderr.write(text);
    process.stdout.write(json);
  } else {
    process.stdout.write(text);
  }
  if (flags.out !== undefined) await writeFile(flags.out, json);
  await rm(work, { recursive: true, force: true });
}

await main();

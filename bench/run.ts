// `npm run bench`: throughput of POST /mutate over HTTPS against a bare fastify HTTPS server that
// only parses the body, on this machine in this run; then the core admit() alone. Rounds are
// interleaved (baseline, injected, skipped, ...) so drift hits every target alike; medians are
// reported. Bounded to well under two minutes.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRegistry } from '../src/registry/load.js';
import { DEV_SANS, generateCa, issueServingCertificate } from '../src/tls/generate.js';
import { admitOpsPerSecond } from './admit.js';
import { makeAgent, runLoad } from './load.js';

// Short windows in many rounds: a baseline window and the webhook window right after it see the
// same machine load, so their ratio is steadier than a ratio of long, separate runs.
const ROUNDS = 9;
const WINDOW_SECONDS = 1.2;
const WARMUP_SECONDS = 1.5;
const CONNECTIONS = 16;
const TARGET_RATIO = 0.85;

const here = fileURLToPath(new URL('.', import.meta.url));
// `npm run bench` runs the compiled bench from dist/ (what the image runs: no TS loader in the
// request path); run under tsx, it forks the TypeScript target the same way.
const compiled = import.meta.url.endsWith('.js');
const root = process.cwd();

interface Target {
  readonly child: ChildProcess;
  readonly port: number;
  stats(): Promise<{ rss: number; cpuMicros: number }>;
  stop(): Promise<void>;
}

async function startTarget(kind: 'webhook' | 'baseline', certDir: string): Promise<Target> {
  const child = fork(join(here, compiled ? 'server.js' : 'server.ts'), [kind, certDir], {
    cwd: root,
    execArgv: compiled ? [] : ['--import', 'tsx'],
    // The webhook's admission log goes to /dev/null: written (as in production) but not shown.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [ready] = (await once(child, 'message')) as [{ type: string; port: number }];
  const ask = async () => {
    child.send({ type: 'stats' });
    const [m] = (await once(child, 'message')) as [{ rss: number; cpuMicros: number }];
    return m;
  };
  return {
    child,
    port: ready.port,
    stats: ask,
    stop: async () => {
      child.send({ type: 'stop' });
      await once(child, 'exit');
    },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MiB`;

async function main(): Promise<void> {
  const began = Date.now();
  const certDir = await mkdtemp(join(tmpdir(), 'ei-bench-'));
  const ca = generateCa({ days: 2 });
  const serving = issueServingCertificate(ca, { service: 'exporter-injector', namespace: 'exporter-injector', sans: DEV_SANS, days: 1 });
  await writeFile(join(certDir, 'tls.crt'), serving.cert);
  await writeFile(join(certDir, 'tls.key'), serving.key, { mode: 0o600 });

  const redisReview = JSON.parse(await readFile(join(root, 'deploy/examples/review-redis.json'), 'utf8')) as { request: { object: { metadata: { annotations?: unknown } } } };
  const plainReview = structuredClone(redisReview);
  delete plainReview.request.object.metadata.annotations;
  const bodies = { injected: Buffer.from(JSON.stringify(redisReview)), skipped: Buffer.from(JSON.stringify(plainReview)) };

  const [webhook, baseline] = await Promise.all([startTarget('webhook', certDir), startTarget('baseline', certDir)]);
  try {
    const agents = { webhook: makeAgent(ca.cert, CONNECTIONS), baseline: makeAgent(ca.cert, CONNECTIONS) };
    const scenarios = [
      { name: 'baseline (bare fastify, parse only), redis body', target: baseline, agent: agents.baseline, body: bodies.injected },
      { name: 'webhook, redis pod (injected)', target: webhook, agent: agents.webhook, body: bodies.injected },
      { name: 'baseline (bare fastify, parse only), plain body', target: baseline, agent: agents.baseline, body: bodies.skipped },
      { name: 'webhook, plain pod (not opted in)', target: webhook, agent: agents.webhook, body: bodies.skipped },
    ];
    const results = scenarios.map(() => ({ perSecond: [] as number[], cpu: [] as number[], cpuPerRequest: [] as number[], errors: 0 }));

    for (const s of scenarios) await runLoad(s.agent, s.target.port, s.body, CONNECTIONS, WARMUP_SECONDS);
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [i, s] of scenarios.entries()) {
        const before = await s.target.stats();
        const r = await runLoad(s.agent, s.target.port, s.body, CONNECTIONS, WINDOW_SECONDS);
        const after = await s.target.stats();
        results[i]!.perSecond.push(r.perSecond);
        results[i]!.cpu.push((after.cpuMicros - before.cpuMicros) / 1e6 / r.seconds);
        results[i]!.cpuPerRequest.push((after.cpuMicros - before.cpuMicros) / Math.max(1, r.requests));
        results[i]!.errors += r.errors;
      }
    }
    agents.webhook.destroy();
    agents.baseline.destroy();

    const registry = await loadRegistry();
    const settings = { ignoredNamespaces: ['kube-system', 'kube-public', 'kube-node-lease'], defaultSidecarMode: 'native' as const };
    const admitInjected = admitOpsPerSecond(redisReview, registry, settings, 1.5);
    const admitSkipped = admitOpsPerSecond(plainReview, registry, settings, 1.5);
    const [webhookStats, baselineStats] = await Promise.all([webhook.stats(), baseline.stats()]);

    const rows = scenarios.map((s, i) => {
      const r = results[i]!;
      return {
        name: s.name,
        median: median(r.perSecond),
        min: Math.min(...r.perSecond),
        max: Math.max(...r.perSecond),
        cpu: median(r.cpu),
        cpuPerRequest: median(r.cpuPerRequest),
        errors: r.errors,
      };
    });
    const width = Math.max(...rows.map((r) => r.name.length));
    const out: string[] = [];
    out.push(`exporter-injector bench: node ${process.version}, ${cpus().length} CPU (${cpus()[0]?.model ?? 'unknown'}), HTTPS/1.1 keep-alive, ${CONNECTIONS} connections, ${ROUNDS} rounds × ${WINDOW_SECONDS}s`);
    out.push('');
    out.push(`${'scenario'.padEnd(width)}  ${'median req/s'.padStart(12)}  ${'min'.padStart(8)}  ${'max'.padStart(8)}  ${'server CPU'.padStart(10)}  ${'CPU µs/req'.padStart(10)}  ${'errors'.padStart(6)}`);
    for (const r of rows) {
      out.push(
        `${r.name.padEnd(width)}  ${fmt(r.median).padStart(12)}  ${fmt(r.min).padStart(8)}  ${fmt(r.max).padStart(8)}  ${`${fmt(r.cpu * 100)}%`.padStart(10)}  ${fmt(r.cpuPerRequest).padStart(10)}  ${String(r.errors).padStart(6)}`,
      );
    }
    out.push('');
    const pairedRatio = (webhookRow: number, baselineRow: number) =>
      median(results[webhookRow]!.perSecond.map((v, round) => v / results[baselineRow]!.perSecond[round]!));
    const ratioInjected = pairedRatio(1, 0);
    const ratioSkipped = pairedRatio(3, 2);
    const verdict = (ratio: number) => (ratio >= TARGET_RATIO ? 'meets' : 'BELOW');
    out.push(`throughput ratio webhook/baseline (median of per-round ratios), injected: ${fmt(ratioInjected, 2)}x (${verdict(ratioInjected)} the ${TARGET_RATIO}x target)`);
    out.push(`throughput ratio webhook/baseline (median of per-round ratios), skipped:  ${fmt(ratioSkipped, 2)}x (${verdict(ratioSkipped)} the ${TARGET_RATIO}x target)`);
    // When the load generator, not the server, is the limit, throughput hides server cost; CPU
    // per request is what the ratio would be once the server is the bottleneck.
    out.push(`server CPU per request, baseline/webhook: injected ${fmt(rows[0]!.cpuPerRequest / rows[1]!.cpuPerRequest, 2)}x, skipped ${fmt(rows[2]!.cpuPerRequest / rows[3]!.cpuPerRequest, 2)}x`);
    out.push('');
    out.push(`core admit() alone: injected ${fmt(admitInjected)} ops/s (${fmt(1e6 / admitInjected, 1)} µs each), not opted in ${fmt(admitSkipped)} ops/s (${fmt(1e6 / admitSkipped, 2)} µs each)`);
    out.push(`RSS after the run: webhook ${mib(webhookStats.rss)}, baseline ${mib(baselineStats.rss)}`);
    out.push(`total ${fmt((Date.now() - began) / 1000, 1)} s`);
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    await Promise.allSettled([webhook.stop(), baseline.stop()]);
    await rm(certDir, { recursive: true, force: true });
  }
}

await main();

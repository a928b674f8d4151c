// Two servers at once on the same core, each under its own wrk: the server CPU per request of each,
// round by round, and their ratio. On a shared VM, two single-server runs one after the other
// differ by ±15%; run together, the neighbours' load hits both alike, and the same build against
// itself stays within a few percent. The pairing has a bias: each server evicts the other's caches
// whenever the core changes hands, so work that touches much memory looks dearer than it is alone.
// Use it to choose between two builds; `npm run bench` gives the figures. See docs/performance.md.
//
//   node dist/bench/paired.js --against OTHER_CHECKOUT   this build's webhook against another's (built)
//   node dist/bench/paired.js --baseline                 this build's webhook against the bare baseline
//   options: --body small|typical|large|skip (small), --rounds N (7), --seconds S (3)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bodies, SHAPES, type BodyName } from './pods.js';
import { hasWrk, percentile, wrk, writeWrkScript } from './saturate.js';
import { startTarget, writeServingCertificate, type Target, type TargetKind, type TargetOptions } from './targets.js';

const { values: flags } = parseArgs({
  options: {
    against: { type: 'string' },
    baseline: { type: 'boolean', default: false },
    body: { type: 'string', default: 'small' },
    rounds: { type: 'string', default: '7' },
    seconds: { type: 'string', default: '3' },
  },
});

const body = flags.body as BodyName;
if (!(body in SHAPES)) throw new Error(`--body ${flags.body}: valid: ${Object.keys(SHAPES).join(', ')}`);
if ((flags.against === undefined) === !flags.baseline) throw new Error('give one of --against OTHER_CHECKOUT or --baseline');
if (cpus().length < 2) throw new Error('needs two CPUs: the servers share one, the generators the other');
if (!(await hasWrk())) throw new Error('needs wrk (Debian package wrk)');
const rounds = Math.max(1, Number(flags.rounds));
const seconds = Math.max(1, Number(flags.seconds));
const CONNECTIONS = 16;
const WARMUP_SECONDS = 2;

interface Side {
  readonly label: string;
  readonly kind: TargetKind;
  readonly root: string;
}
// The reference first: ratios are this build / the other.
const reference: Side = flags.baseline ? { label: 'baseline', kind: 'baseline', root: process.cwd() } : { label: 'other', kind: 'webhook', root: resolve(flags.against!) };
const tested: Side = { label: 'this', kind: 'webhook', root: process.cwd() };
if (!existsSync(join(reference.root, 'dist/src/cli/main.js'))) throw new Error(`${reference.root} has no build: run npm ci && npm run build there`);

execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
const work = await mkdtemp(join(tmpdir(), 'ei-paired-'));
try {
  await writeServingCertificate(work);
  const bodyFile = join(work, 'body.json');
  await writeFile(bodyFile, bodies()[body]);
  const script = await writeWrkScript(work);
  const options = (side: Side): TargetOptions => ({ root: side.root, certDir: work, home: work, cpus: '1' });

  const ratios: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    // Fresh processes each round, started in alternating order.
    const order = round % 2 === 0 ? [reference, tested] : [tested, reference];
    const started: { side: Side; target: Target }[] = [];
    try {
      for (const side of order) started.push({ side, target: await startTarget(side.kind, options(side)) });
      const load = (s: number) => Promise.all(started.map(({ target }) => wrk({ script, bodyFile, port: target.port, connections: CONNECTIONS, seconds: s, cpus: '0' })));
      await load(WARMUP_SECONDS);
      const before = started.map(({ target }) => target.stats().cpuMicros);
      const results = await load(seconds);
      const micros = started.map(({ target }, i) => (target.stats().cpuMicros - before[i]!) / Math.max(1, results[i]!.requests));
      const of = (side: Side) => micros[started.findIndex((s) => s.side === side)]!;
      ratios.push(of(tested) / of(reference));
      console.log(`round ${round + 1}: ${reference.label} ${of(reference).toFixed(1)} µs/request, ${tested.label} ${of(tested).toFixed(1)} µs/request, ratio ${ratios.at(-1)!.toFixed(3)}`);
    } finally {
      await Promise.allSettled(started.map(({ target }) => target.stop()));
    }
  }
  console.log(`${body}: server CPU per request, ${tested.label} / ${reference.label}: median ${percentile(ratios, 50).toFixed(3)} of ${rounds} rounds`);
} finally {
  await rm(work, { recursive: true, force: true });
}

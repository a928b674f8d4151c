// `npm run test:conformance [-- flags]`: proves the templates against the real Debian exporters, the
// servers they watch and a real Prometheus (issue 5). Needs root (servers run as their own users,
// exporters as the template's user in a private mount namespace) and test/conformance/setup.sh.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Registry } from '../../src/core/types.js';
import { loadRegistry } from '../../src/registry/load.js';
import { CASES, type Case, type ProvableCase } from './cases.js';
import { installed } from './debian.js';
import { killEverything } from './procs.js';
import { startPrometheus, type Prometheus } from './prometheus.js';
import { caseLabel, prove, usesPort, type Row } from './prove.js';
import { markdownReport, summarize, textTable } from './report.js';
import { proveScraping, SCRAPING_LABEL } from './scraping.js';
import { Workspace } from './servers.js';

const HELP = `usage: npm run test:conformance -- [flags]

Runs each template that has a matching Debian exporter against its real server and a real
Prometheus, and prints: template | exporter version tested | server | result | notes.
Results: pass, FAIL, gap (a named flag/variable difference between the Debian build and the
pinned image, proven otherwise), flags only (no server in Debian), not proven (why).
Exits 1 when any case fails. Install the packages first: bash test/conformance/setup.sh

flags:
  --only NAMES       comma-separated templates to run (default: all)
  --templates DIR    user templates that add to or override the built-ins (as in serve/inject)
  --report FILE      also write the table, and how each exporter ran, as markdown
  --jobs N           cases run at the same time: 1 or 2 (default 2)
  --keep             keep the temporary directory (configs, data, Prometheus) for inspection
  -h, --help         this help
`;

const USAGE = 2;

/** Every wait inside a case is bounded; this bounds their sum, so one stuck case cannot stall the suite. */
const CASE_DEADLINE_MS = 150_000;

/** Set in the re-executed suite: it already runs in its own network namespace. */
const IN_PRIVATE_NETWORK = 'EI_CONFORMANCE_NETNS';

function usage(message: string): never {
  process.stderr.write(`test:conformance: ${message}; see --help\n`);
  process.exit(USAGE);
}

/**
 * Runs up to `jobs` items at once, never two whose `ports` overlap (servers bind the fixed ports
 * their template's default target names).
 */
async function runPool<T>(items: readonly T[], jobs: number, ports: (item: T) => readonly number[], work: (item: T) => Promise<void>): Promise<void> {
  const waiting = [...items];
  const busy = new Set<number>();
  const running = new Set<Promise<void>>();
  while (waiting.length > 0 || running.size > 0) {
    while (running.size < jobs) {
      const at = waiting.findIndex((item) => ports(item).every((p) => !busy.has(p)));
      if (at === -1) break;
      const [item] = waiting.splice(at, 1) as [T];
      const claimed = ports(item);
      for (const p of claimed) busy.add(p);
      const task: Promise<void> = work(item).finally(() => {
        for (const p of claimed) busy.delete(p);
        running.delete(task);
      });
      running.add(task);
    }
    await Promise.race(running);
  }
}

function rowFor(c: Case | undefined, template: string): Row | undefined {
  const base = { template, exporter: '-', server: '-', details: [] };
  if (c === undefined) return { ...base, result: 'not proven', notes: 'no conformance case for this template (add one to test/conformance/cases.ts)' };
  if (c.kind === 'unprovable') return { ...base, result: 'not proven', notes: c.why };
  return undefined;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      allowPositionals: false,
      options: {
        only: { type: 'string' },
        templates: { type: 'string' },
        report: { type: 'string' },
        jobs: { type: 'string' },
        keep: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    usage((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const jobs = Number(values.jobs ?? '2');
  if (!(jobs === 1 || jobs === 2)) usage(`--jobs ${JSON.stringify(values.jobs)} is not valid; valid: 1 or 2`);
  if (process.getuid?.() !== 0) usage('must run as root: servers run as their own system users and exporters as the template user, in a private mount namespace');

  let registry: Registry;
  try {
    registry = await loadRegistry(values.templates === undefined ? undefined : resolve(values.templates));
  } catch (err) {
    const details = (err as { details?: string[] }).details ?? [];
    process.stderr.write(`test:conformance: ${(err as Error).message}\n${details.map((d) => `  ${d}\n`).join('')}`);
    return USAGE;
  }
  const names = [...registry.templates.keys()].sort();
  let selected = names;
  if (values.only !== undefined) {
    selected = values.only.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const unknown = selected.filter((s) => !names.includes(s));
    if (selected.length === 0 || unknown.length > 0) usage(`--only ${JSON.stringify(values.only)}: unknown template ${unknown.join(', ') || '(none given)'}; valid: ${names.join(', ')}`);
  }

  const promPackage = await installed('prometheus');
  try {
    await access('/usr/bin/prometheus');
  } catch {
    process.stderr.write('test:conformance: /usr/bin/prometheus is missing; run bash test/conformance/setup.sh first\n');
    return 1;
  }

  const began = Date.now();
  const ws = await Workspace.create();
  leftovers = values.keep ? undefined : ws.root;
  let prometheus: Prometheus | undefined;
  let rows: Row[];
  try {
    let unavailable = 'not run';
    try {
      prometheus = await startPrometheus('/usr/bin/prometheus', await ws.dir('prometheus'), promPackage?.version ?? 'unknown');
    } catch (err) {
      unavailable = `Prometheus did not start: ${(err as Error).message}`;
    }
    // The first case of a template stands for it in byName; a template may have further (variant) cases.
    const byName = new Map<string, Case>();
    for (const c of CASES) if (!byName.has(c.template)) byName.set(c.template, c);
    const provable = selected.flatMap((name) => CASES.filter((c): c is ProvableCase => c.template === name && c.kind === 'provable'));
    const proven = new Map<string, Row>();
    if (prometheus) {
      const context = { registry, prometheus, ws };
      // A template that cannot move its port makes the exporter bind that port too.
      const ports = (c: ProvableCase) => {
        const t = registry.templates.get(c.template);
        return t && !usesPort(t) ? [...c.ports, t.port] : c.ports;
      };
      await runPool(provable, jobs, ports, async (c) => {
        const started = Date.now();
        const overdue: Row = { template: caseLabel(c), exporter: c.exporter.package, server: c.serverPackage ?? '-', result: 'FAIL', notes: `did not finish within ${CASE_DEADLINE_MS / 1000} s`, details: [] };
        const row = await Promise.race([prove(c, context), sleep(CASE_DEADLINE_MS, overdue, { ref: false })]);
        process.stderr.write(`  ${caseLabel(c)}: ${row.result} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
        proven.set(caseLabel(c), row);
      });
    }
    // Per-exporter scraping (after the pool: it binds the redis and postgres ports too).
    let scraping: Row | undefined;
    if (prometheus && selected.includes('redis') && selected.includes('postgres')) {
      const started = Date.now();
      scraping = await proveScraping({ registry, prometheus, ws });
      process.stderr.write(`  ${SCRAPING_LABEL}: ${scraping.result} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    }
    rows = selected.flatMap((name) => {
      const variants = provable.filter((c) => c.template === name && c.variant !== undefined).map((c) => proven.get(caseLabel(c)) ?? { template: caseLabel(c), exporter: '-', server: '-', result: 'FAIL' as const, notes: unavailable, details: [] });
      const main = proven.get(name) ?? rowFor(byName.get(name), name) ?? { template: name, exporter: '-', server: '-', result: 'FAIL' as const, notes: unavailable, details: [] };
      return [main, ...variants];
    });
    if (scraping) rows.push(scraping);
  } finally {
    await prometheus?.stop();
    killEverything();
    if (values.keep) process.stderr.write(`kept ${ws.root}\n`);
    else await ws.remove();
    leftovers = undefined;
  }

  const { passed, failed } = summarize(rows);
  process.stdout.write(`${textTable(rows)}\n\n`);
  for (const r of rows.filter((row) => row.result === 'FAIL')) {
    process.stdout.write(`${r.template} failed: ${r.notes}\n${r.details.map((d) => `  ${d}\n`).join('')}\n`);
  }
  if (values.report !== undefined) {
    const text = markdownReport(rows, { prometheus: prometheus?.version ?? 'unknown', ...(values.templates ? { templatesDir: values.templates } : {}), durationMs: Date.now() - began });
    await writeFile(values.report, text);
  }
  const others = rows.filter((r) => r.result !== 'pass' && r.result !== 'FAIL');
  if (others.length > 0) process.stdout.write(`not counted: ${others.map((r) => `${r.template} (${r.result})`).join(', ')}\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

/** The workspace to remove if the suite is interrupted before its own cleanup. */
let leftovers: string | undefined;

// Whatever happens, nothing the suite started outlives it.
process.on('exit', () => {
  killEverything();
  if (leftovers !== undefined) rmSync(leftovers, { recursive: true, force: true, maxRetries: 3 });
});
if (process.env[IN_PRIVATE_NETWORK] === '1') {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => process.exit(130));
}

/**
 * Re-runs the suite inside a new network namespace with only a loopback interface, like a pod's:
 * the exporters listen on ":port" as their templates say, yet nothing is reachable from outside
 * and nothing outside can collide with the suite's ports.
 */
async function inPrivateNetwork(): Promise<number> {
  const child = spawn(
    'unshare',
    ['--net', '--', '/bin/sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [IN_PRIVATE_NETWORK]: '1' } },
  );
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  return await new Promise((resolveExit) => {
    child.on('error', (err) => {
      process.stderr.write(`test:conformance: cannot create a private network namespace (unshare --net): ${err.message}\n`);
      resolveExit(1);
    });
    child.on('exit', (code, signal) => resolveExit(code ?? (signal ? 130 : 1)));
  });
}

function entry(): Promise<number> {
  const help = process.argv.includes('--help') || process.argv.includes('-h');
  if (process.env[IN_PRIVATE_NETWORK] === '1' || help) return main();
  if (process.getuid?.() !== 0) usage('must run as root: it creates a private network namespace, runs servers as their own system users and exporters as the template user in a private mount namespace');
  return inPrivateNetwork();
}

entry().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    killEverything();
    process.stderr.write(`test:conformance: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);

// Load at saturation: N kept-alive HTTPS connections, each sending its next request as soon as
// the answer to the last one is read. wrk does it when installed (C, one thread: it needs far
// less CPU per request than the server, so on a 2-core machine the server, not the generator, is
// the limit); otherwise a Node loop in this process stands in, and says so.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'node:https';

export interface SaturationResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

const run = promisify(execFile);

export async function hasWrk(): Promise<boolean> {
  try {
    await run('wrk', ['--version']);
    return true;
  } catch (e) {
    // wrk --version prints its banner and exits 1.
    return (e as { code?: unknown }).code === 1;
  }
}

const WRK_SCRIPT = `
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%d,"micros":%d,"errors":%d,"p50":%d,"p99":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

export async function writeWrkScript(dir: string): Promise<string> {
  const file = join(dir, 'post.lua');
  await writeFile(file, WRK_SCRIPT);
  return file;
}

export async function wrk(
  options: { script: string; bodyFile: string; port: number; connections: number; seconds: number; cpus?: string | undefined },
): Promise<SaturationResult> {
  const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--timeout', '10s', '-s', options.script, `https://127.0.0.1:${options.port}/mutate?timeout=10s`];
  const [command, argv] = options.cpus ? ['taskset', ['-c', options.cpus, 'wrk', ...args]] : ['wrk', args];
  const { stdout } = await run(command, argv, { env: { ...process.env, BENCH_BODY: options.bodyFile }, maxBuffer: 1 << 20 });
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH '));
  if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
  const r = JSON.parse(line.slice(6)) as { requests: number; micros: number; errors: number; p50: number; p99: number };
  const seconds = r.micros / 1e6;
  const ok = r.requests - r.errors;
  return { requests: ok, errors: r.errors, seconds, perSecond: ok / seconds, p50Ms: r.p50 / 1000, p99Ms: r.p99 / 1000 };
}

export function makeAgent(caCert: string, connections: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: connections, ca: caCert, servername: 'exporter-injector.exporter-injector.svc' });
}

/** One POST; resolves with whether the answer was a 200, once its body is read. */
export function post(agent: Agent, port: number, body: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/mutate?timeout=10s', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length) } },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      },
    );
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

/** The stand-in for wrk: `connections` closed loops in this process. */
export async function nodeLoop(agent: Agent, port: number, body: Buffer, connections: number, seconds: number): Promise<SaturationResult> {
  const latencies: number[] = [];
  let errors = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (process.hrtime.bigint() < end) {
        const sent = process.hrtime.bigint();
        if (await post(agent, port, body)) latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
        else errors += 1;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return { requests: latencies.length, errors, seconds: elapsed, perSecond: latencies.length / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

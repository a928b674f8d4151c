// The real `exporter-injector serve` as a child process for the stress and soak runs: generated
// certificates, loopback, free ports, and what the tests read from outside the process (its
// metrics on the health port, its open descriptors, its resident memory).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sample, tempDir, testPki, until } from '../server/fixtures.js';

export { SERVICE_NAME } from '../helpers/api-server-standin.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly httpsPort: number;
  readonly healthPort: number;
  readonly caCert: string;
  /** Whether the process is still running. */
  alive(): boolean;
  /** stderr and any non-JSON stdout so far, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after 30 s; resolves with how it exited. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A port free right now (the kernel picks it); serve binds it a moment later. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * Starts serve (through tsx) with `extra` flags on free ports, and waits for /readyz. Its log goes
 * to a pipe that is drained and dropped (ports are chosen here, so any --log-level works).
 */
export async function startServeProcess(extra: readonly string[] = []): Promise<ServeProcess> {
  const dir = await tempDir('stress');
  const pki = testPki();
  const pair = pki.issue();
  await writeFile(join(dir, 'tls.crt'), pair.cert);
  await writeFile(join(dir, 'tls.key'), pair.key);
  const [httpsPort, healthPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', String(httpsPort), '--health-port', String(healthPort), '--host', '127.0.0.1', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--sidecar-mode', 'native', ...extra],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let other = '';
  child.stdout!.resume();
  child.stderr!.on('data', (c: Buffer) => void (other = (other + c.toString()).slice(-20_000)));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  let running = true;
  void exited.then(() => (running = false));
  await until('serve to be ready', async () => {
    if (!running) throw new Error(`serve exited during start-up:\n${other}`);
    return (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.status === 200;
  }, 60_000);
  return {
    child,
    pid: child.pid!,
    httpsPort,
    healthPort,
    caCert: pki.ca.cert,
    alive: () => running,
    output: () => other,
    async stop() {
      if (running) child.kill('SIGTERM');
      const timer = setTimeout(() => running && child.kill('SIGKILL'), 30_000);
      const result = await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
      return result;
    },
  };
}

export interface ProcessFigures {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** p99 of the event-loop delay since the previous scrape (prom-client resets it on each). */
  readonly eventLoopP99Seconds: number;
  readonly openFds: number;
}

/** Memory and event-loop delay from /metrics on the health port; descriptors from /proc. */
export async function processFigures(serve: ServeProcess): Promise<ProcessFigures> {
  const text = await (await fetch(`http://127.0.0.1:${serve.healthPort}/metrics`)).text();
  // The standard process_* and nodejs_* names (no prefix), as dashboards query them.
  const metric = (name: string): number => {
    const v = sample(text, name);
    if (v === undefined) throw new Error(`/metrics has no ${name}`);
    return v;
  };
  return {
    rssBytes: metric('process_resident_memory_bytes'),
    heapUsedBytes: metric('nodejs_heap_size_used_bytes'),
    eventLoopP99Seconds: metric('nodejs_eventloop_lag_p99_seconds'),
    openFds: (await readdir(`/proc/${serve.pid}/fd`)).length,
  };
}

/** Resident memory straight from /proc (VmRSS), for sampling faster than a scrape. */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

export const MIB = 1024 * 1024;
export const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;

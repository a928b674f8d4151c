// The two processes under test, started the way an operator starts them: the compiled
// `exporter-injector serve` with its default flags (only TLS files and ports given), under the node
// flags the image's ENTRYPOINT passes, and the bare fastify baseline under node's defaults. Both
// are measured from outside through /proc, so neither carries bench code.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DEV_SANS, generateCa, issueServingCertificate } from '../src/tls/generate.js';

export type TargetKind = 'baseline' | 'webhook';

export interface Target {
  readonly kind: TargetKind;
  readonly pid: number;
  readonly port: number;
  /** From spawn to the first 200 from /readyz. */
  readonly readyMs: number;
  stats(): { rssBytes: number; cpuMicros: number };
  stop(): Promise<void>;
}

export interface TargetOptions {
  readonly root: string;
  readonly certDir: string;
  /** Scratch HOME with no ~/.kube/config: no cluster credentials, so no cluster is reachable. */
  readonly home: string;
  /** CPU list for taskset (e.g. "1"), or undefined to leave scheduling alone. */
  readonly cpus?: string | undefined;
  /** Extra node flags (e.g. --cpu-prof); the webhook's follow the image's. */
  readonly nodeFlags?: readonly string[];
}

/** The node flags the Dockerfile's ENTRYPOINT passes between node and the script (none in builds before it had any). */
export function imageNodeFlags(root: string): string[] {
  const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  if (!entrypoint) throw new Error(`${join(root, 'Dockerfile')}: no ENTRYPOINT in exec form`);
  return (JSON.parse(entrypoint[1]!) as string[]).slice(1, -1);
}

/** A free loopback port; the tiny window before the target binds it is harmless here. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  return typeof address === 'object' && address ? address.port : 0;
}

function readyz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false)).on('timeout', () => req.destroy());
    req.end();
  });
}

const CERT_FILE = 'tls.crt';
const KEY_FILE = 'tls.key';

/** Writes a fresh CA's serving certificate and key into `certDir`, where startTarget reads them; returns the CA certificate (PEM) for clients. */
export async function writeServingCertificate(certDir: string): Promise<string> {
  const ca = generateCa({ days: 2 });
  const serving = issueServingCertificate(ca, { service: 'exporter-injector', namespace: 'exporter-injector', sans: DEV_SANS, days: 1 });
  await writeFile(join(certDir, CERT_FILE), serving.cert);
  await writeFile(join(certDir, KEY_FILE), serving.key, { mode: 0o600 });
  return ca.cert;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime and VmRSS of a process, from /proc. */
export function procStats(pid: number): { rssBytes: number; cpuMicros: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ")"; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { rssBytes: Number(rss?.[1] ?? 0) * 1024, cpuMicros: (ticks * 1e6) / TICKS_PER_SECOND };
}

export async function startTarget(kind: TargetKind, options: TargetOptions): Promise<Target> {
  const [port, healthPort] = [await freePort(), await freePort()];
  const cert = join(options.certDir, CERT_FILE);
  const key = join(options.certDir, KEY_FILE);
  const script =
    kind === 'webhook'
      ? [join(options.root, 'dist/src/cli/main.js'), 'serve', '--tls-cert', cert, '--tls-key', key, '--host', '127.0.0.1', '--port', String(port), '--health-port', String(healthPort)]
      : [join(options.root, 'dist/bench/baseline.js'), cert, key, String(port), String(healthPort)];
  const argv = [...(kind === 'webhook' ? imageNodeFlags(options.root) : []), ...(options.nodeFlags ?? []), ...script];
  const [command, args] = options.cpus ? ['taskset', ['-c', options.cpus, process.execPath, ...argv]] : [process.execPath, argv];
  const started = process.hrtime.bigint();
  const child: ChildProcess = spawn(command, args, {
    cwd: options.root,
    // Only what a container would have: no KUBECONFIG, no EXPORTER_INJECTOR_* from the caller.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: options.home },
    // The admission log (one line per injection) is written, as in production, to /dev/null.
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  let readyMs = -1;
  // Bounded: a target that is not ready in 30 s is broken, not slow.
  for (let i = 0; i < 6000 && readyMs < 0; i += 1) {
    if (child.exitCode !== null) throw new Error(`${kind} exited with ${child.exitCode} before it was ready`);
    if (await readyz(healthPort)) readyMs = Number(process.hrtime.bigint() - started) / 1e6;
    else await new Promise((r) => setTimeout(r, 5));
  }
  if (readyMs < 0) {
    child.kill('SIGKILL');
    throw new Error(`${kind} was not ready within 30 s`);
  }
  // With taskset the child is taskset, which execs node: same pid.
  const pid = child.pid!;
  return {
    kind,
    pid,
    port,
    readyMs,
    stats: () => procStats(pid),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

// Every process the conformance suite starts goes through here, in its own process group, so that
// all of them (servers fork workers) are stopped with the suite even when a case or the suite fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Keep the tail only: enough to explain a failure, bounded for chatty servers. */
const OUTPUT_LIMIT = 16_384;

/** A deadline for a race: unref'd, so a pending one never holds the suite open after its work is done. */
const deadline = (ms: number) => sleep(ms, undefined, { ref: false });

/** Process groups still alive (the leader's pid is the group id: spawned with `detached`). */
const groups = new Set<number>();

export interface Started {
  readonly name: string;
  readonly pid: number;
  /** The last bytes of stdout and stderr, interleaved. */
  output(): string;
  /** null while running; the exit code (or signal name) once it has ended. */
  exit(): number | string | null;
  readonly exited: Promise<number | string>;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export function start(name: string, command: string, args: readonly string[], options: StartOptions = {}): Started {
  const child: ChildProcess = spawn(command, [...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd ?? '/',
  });
  let tail = '';
  const collect = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let status: number | string | null = null;
  const exited = new Promise<number | string>((resolve) => {
    child.on('error', (err) => {
      collect(Buffer.from(`\n${name}: cannot start ${command}: ${err.message}\n`));
      status = 'spawn-error';
      resolve(status);
    });
    child.on('exit', (code, signal) => {
      status = code ?? signal ?? 'unknown';
      resolve(status);
    });
  });
  if (child.pid !== undefined) groups.add(child.pid);
  return { name, pid: child.pid ?? -1, output: () => tail, exit: () => status, exited };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the whole group has already gone.
  }
}

/** SIGTERM to the process group, SIGKILL after the grace period; resolves once the leader is gone. */
export async function stop(proc: Started, graceMs = 5_000): Promise<void> {
  if (proc.pid <= 0) return;
  signalGroup(proc.pid, 'SIGTERM');
  const ended = await Promise.race([proc.exited.then(() => true), deadline(graceMs).then(() => false)]);
  // Workers of a server can outlive their leader by a moment; the group is killed either way.
  signalGroup(proc.pid, 'SIGKILL');
  if (!ended) await Promise.race([proc.exited, deadline(2_000)]);
  groups.delete(proc.pid);
}

/** Last resort on exit or interrupt: synchronous, so it also works from process.on('exit'). */
export function killEverything(): void {
  for (const pid of groups) signalGroup(pid, 'SIGKILL');
  groups.clear();
}

export interface RunResult {
  readonly code: number | string;
  readonly output: string;
}

/** Runs a command to completion within `timeoutMs` (then kills it and reports a timeout). */
export async function run(name: string, command: string, args: readonly string[], timeoutMs: number, options: StartOptions = {}): Promise<RunResult> {
  const proc = start(name, command, args, options);
  const finished = await Promise.race([proc.exited.then(() => true), deadline(timeoutMs).then(() => false)]);
  if (!finished) {
    await stop(proc, 1_000);
    return { code: 'timeout', output: `${proc.output()}\n${name}: timed out after ${timeoutMs} ms` };
  }
  groups.delete(proc.pid);
  return { code: proc.exit() ?? 'unknown', output: proc.output() };
}

/** Like run(), but throws with the command's output unless it exits 0. */
export async function runOk(name: string, command: string, args: readonly string[], timeoutMs: number, options: StartOptions = {}): Promise<string> {
  const result = await run(name, command, args, timeoutMs, options);
  if (result.code !== 0) throw new Error(`${name} failed (exit ${result.code}): ${telling(result.output)}`);
  return result.output;
}

/** A loopback port that nothing listens on right now (the kernel's choice). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Waits until 127.0.0.1:port accepts connections; fails early when `proc` dies first. */
export async function waitForPort(port: number, proc: Started | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exit() !== null) {
      throw new Error(`${proc.name} exited (${proc.exit()}) before listening on 127.0.0.1:${port}: ${telling(proc.output())}`);
    }
    if (await accepts(port)) return;
    await sleep(100);
  }
  throw new Error(`${proc?.name ?? 'nothing'} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms${proc ? `: ${telling(proc.output())}` : ''}`);
}

/** Retries `attempt` until it resolves, for at most `timeoutMs`; rethrows the last error. */
export async function retry<T>(what: string, timeoutMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await attempt();
    } catch (err) {
      last = err;
      await sleep(250);
    }
  }
  throw new Error(`${what}: gave up after ${timeoutMs} ms: ${last instanceof Error ? last.message : String(last)}`);
}

/**
 * The lines of a process's output that say why it failed (a Go flag error is followed by the whole
 * usage text, so the tail alone hides it); the tail when nothing stands out.
 */
export function telling(text: string, count = 4): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const hits = lines.filter((l) => /flag provided but not defined|unknown (long |short )?flag|required flag|error|fatal|panic|denied|refused|no such/i.test(l));
  return hits.length > 0 ? hits.slice(0, count).join(' | ') : lastLines(text, count);
}

export function lastLines(text: string, count: number): string {
  return text.trim().split('\n').slice(-count).join(' | ');
}

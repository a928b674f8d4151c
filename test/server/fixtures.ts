// Shared by the server tests: certificates, a folder updated the way the kubelet updates a
// mounted Secret or ConfigMap, pods, log capture, and a bounded wait.
import { mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { parseServeConfig, type ServeConfig } from '../../src/config/serve-config.js';
import { createLogger } from '../../src/server/logger.js';
import { startWebhook, type RunningWebhook } from '../../src/server/runtime.js';
import { generateCa, issueServingCertificate, DEV_SANS, type PemPair } from '../../src/tls/generate.js';
import { ApiServerStandIn } from '../helpers/api-server-standin.js';

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `ei-${prefix}-`));
}

export interface TestPki {
  readonly ca: PemPair;
  issue(options?: { now?: Date; days?: number }): PemPair;
}

/** A CA and serving pairs for exporter-injector.exporter-injector.svc (+ localhost, 127.0.0.1). */
export function testPki(): TestPki {
  const ca = generateCa({ days: 30 });
  return {
    ca,
    issue(options = {}) {
      const serving = issueServingCertificate(ca, {
        service: 'exporter-injector',
        namespace: 'exporter-injector',
        sans: DEV_SANS,
        days: options.days ?? 10,
        ...(options.now ? { now: options.now } : {}),
      });
      return { cert: serving.cert, key: serving.key };
    },
  };
}

/**
 * A folder laid out as the kubelet mounts a Secret or ConfigMap: the files live in a timestamped
 * hidden folder, `..data` points at it, and each visible name is a symlink through `..data`.
 * update() swaps `..data` with one rename, exactly as the kubelet's atomic writer does.
 */
export class ProjectedFolder {
  #generation = 0;

  private constructor(readonly dir: string) {}

  static async create(dir: string, files: Record<string, string>): Promise<ProjectedFolder> {
    const folder = new ProjectedFolder(dir);
    await mkdir(dir, { recursive: true });
    await folder.update(files);
    return folder;
  }

  async update(files: Record<string, string>): Promise<void> {
    this.#generation += 1;
    const version = `..2026_01_01_00_00_${String(this.#generation).padStart(2, '0')}.${process.pid}`;
    await mkdir(join(this.dir, version));
    for (const [name, text] of Object.entries(files)) await writeFile(join(this.dir, version, name), text);
    await symlink(version, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    const entries = await readdir(this.dir);
    for (const name of Object.keys(files)) {
      if (!entries.includes(name)) await symlink(join('..data', name), join(this.dir, name));
    }
    // Names no longer in the update disappear, and so does the previous timestamped folder.
    for (const name of entries) {
      if (!name.startsWith('.') && !(name in files)) await rm(join(this.dir, name), { force: true });
      if (name.startsWith('..2') && name !== version) await rm(join(this.dir, name), { recursive: true, force: true });
    }
  }
}

/**
 * A temporary folder holding a serving pair from `pki` as tls.crt and tls.key, the way the Secret's
 * volume does (plus `extra` files). `issue` passes options to the pair (an expired one, say).
 */
export async function servingCertDir(
  prefix: string,
  pki: TestPki,
  extra: Record<string, string> = {},
  issue: Parameters<TestPki['issue']>[0] = undefined,
): Promise<{ dir: string; folder: ProjectedFolder }> {
  const dir = await tempDir(prefix);
  const pair = pki.issue(issue);
  const folder = await ProjectedFolder.create(dir, { 'tls.crt': pair.cert, 'tls.key': pair.key, ...extra });
  return { dir, folder };
}

/** A pino destination that keeps every line, parsed. */
export function logCapture(): { stream: DestinationStream; lines: () => Record<string, unknown>[]; text: () => string } {
  let text = '';
  return {
    stream: { write: (line: string) => void (text += line) },
    lines: () =>
      text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    text: () => text,
  };
}

/** Waits until `condition` holds, checking every 25 ms; fails after `timeoutMs` naming `what`. */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A Pod that opts in to the given templates (redis by default), as a ReplicaSet creates it. */
export function optedInPod(inject = 'redis', extra: { annotations?: Record<string, string>; env?: { name: string; value: string }[] } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'cache-7d9c6b5f4-',
      namespace: 'default',
      labels: { app: 'cache' },
      annotations: { 'exporter-injector.io/inject': inject, ...extra.annotations },
    },
    spec: {
      containers: [
        {
          name: 'redis',
          image: 'redis:7.4',
          ports: [{ name: 'redis', containerPort: 6379 }],
          ...(extra.env ? { env: extra.env } : {}),
        },
      ],
    },
  };
}

export function plainPod(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default' },
    spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
  };
}

/** A user template: the built-in redis one under another name (and optionally another version). */
export function userTemplate(name: string, redisYaml: string, version = '1.0.0'): string {
  return redisYaml.replace(/^name: redis$/m, `name: ${name}`).replace(/^version: .*$/m, `version: ${version}`);
}

/** Runs `fn` `concurrency` times in parallel, over and over, until stop() is called. */
export function flow(concurrency: number, fn: (i: number) => Promise<void>): { done: () => number; stop: () => Promise<{ ok: number; failures: unknown[] }> } {
  let running = true;
  let ok = 0;
  const failures: unknown[] = [];
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    while (running) {
      try {
        await fn(i);
        ok += 1;
      } catch (e) {
        failures.push(e);
      }
    }
  });
  return {
    done: () => ok + failures.length,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failures };
    },
  };
}

/** Waits until the flow has finished `count` more requests than now, so a change is exercised under load. */
export async function moreRequests(f: { done: () => number }, count: number): Promise<void> {
  const target = f.done() + count;
  await until(`${count} more requests`, () => f.done() >= target);
}

/** serve's settings for a test: loopback, free ports, fast polling, native sidecars. */
export function testConfig(certDir: string, extra: string[] = []): ServeConfig {
  return parseServeConfig(
    [
      '--port', '0',
      '--health-port', '0',
      '--host', '127.0.0.1',
      '--tls-cert', join(certDir, 'tls.crt'),
      '--tls-key', join(certDir, 'tls.key'),
      '--sidecar-mode', 'native',
      '--watch-interval', '0.2',
      ...extra,
    ],
    {},
  );
}

/** Starts the webhook the way serve does, logging into memory. */
export async function startTestWebhook(
  certDir: string,
  extra: string[] = [],
): Promise<{ webhook: RunningWebhook; logs: ReturnType<typeof logCapture> }> {
  const logs = logCapture();
  const config = testConfig(certDir, extra);
  const webhook = await startWebhook({ config, logger: createLogger('info', logs.stream), sidecarMode: 'native' });
  return { webhook, logs };
}

export interface ServedWebhook {
  readonly webhook: RunningWebhook;
  /** Sends reviews the way the API server does, trusting the webhook's CA. */
  readonly apiServer: ApiServerStandIn;
  readonly caCert: string;
  stop(): Promise<void>;
}

/** A webhook started with `flags` on a fresh certificate, and an API server stand-in with `maxSockets` connections to it. */
export async function servedWebhook(prefix: string, flags: string[], maxSockets: number): Promise<ServedWebhook> {
  const pki = testPki();
  const { dir } = await servingCertDir(prefix, pki);
  const { webhook } = await startTestWebhook(dir, flags);
  const apiServer = new ApiServerStandIn({ port: webhook.httpsPort, caCert: pki.ca.cert, maxSockets });
  const stop = async (): Promise<void> => {
    apiServer.close();
    await webhook.shutdown();
    await rm(dir, { recursive: true, force: true });
  };
  return { webhook, apiServer, caCert: pki.ca.cert, stop };
}

/** GET on the plain-HTTP health port. */
export async function healthGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** The value of one sample in Prometheus text, or undefined. */
export function sample(metricsText: string, name: string): number | undefined {
  const line = metricsText.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/**
 * Offers only TLS 1.0/1.1 (with the client's own security level lowered so it really offers
 * them) and resolves with how it ended: the server's protocol_version alert proves the server
 * refused, as opposed to the client never trying.
 */
export function oldTlsOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false });
    socket.once('secureConnect', () => {
      resolve(`connected with ${socket.getProtocol() ?? '?'}`);
      socket.destroy();
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

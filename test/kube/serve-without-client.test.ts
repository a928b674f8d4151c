// serve reads the cluster version in a pod with one HTTPS GET (service account token and CA), and
// nothing it loads, at start-up or after, pulls in @kubernetes/client-node (~80 MiB resident).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { isInjectorError } from '../../src/errors.js';
import { detectDefaultSidecarMode } from '../../src/kube/cluster-version.js';
import { DEV_SANS, generateCa, issueServingCertificate } from '../../src/tls/generate.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);
const CLIENT_NODE = '/node_modules/@kubernetes/client-node/';

let dir: string;
let server: Server;
let port: number;
let otherCa: string;
const seen: string[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ei-in-cluster-'));
  const ca = generateCa({ days: 1 });
  otherCa = generateCa({ days: 1 }).cert;
  const serving = issueServingCertificate(ca, { service: 'kubernetes', namespace: 'default', sans: DEV_SANS, days: 1 });
  // The projected service account volume: token and ca.crt side by side.
  await writeFile(join(dir, 'token'), 'sa-token\n');
  await writeFile(join(dir, 'ca.crt'), ca.cert);
  server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
    if (req.headers.authorization !== 'Bearer sa-token') {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', message: 'Unauthorized', code: 401 }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ major: '1', minor: '28+', gitVersion: 'v1.28.9-eks-036c24b' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const inCluster = (extra: Record<string, string> = {}) => ({
  env: { HOME: dir, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port), ...extra },
  serviceAccountTokenPath: join(dir, 'token'),
});

describe('in-cluster /version without the Kubernetes client', () => {
  it('reads the version with the service account token, trusting the service account CA', async () => {
    seen.length = 0;
    const detected = await detectDefaultSidecarMode(inCluster());
    assert.equal(detected?.mode, 'classic');
    assert.equal(detected?.version.gitVersion, 'v1.28.9-eks-036c24b');
    assert.deepEqual(seen, ['GET /version Bearer sa-token']);
  });

  it('refuses a server whose certificate the service account CA did not sign', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'ei-in-cluster-other-'));
    try {
      await writeFile(join(elsewhere, 'token'), 'sa-token');
      await writeFile(join(elsewhere, 'ca.crt'), otherCa);
      await assert.rejects(detectDefaultSidecarMode({ ...inCluster(), serviceAccountTokenPath: join(elsewhere, 'token') }), (e: unknown) => {
        assert.ok(isInjectorError(e, 'EI_ERR_KUBE_API'));
        assert.match(e.message, new RegExp(`cannot read /version at https://127\\.0\\.0\\.1:${port}: .*certificate`));
        return true;
      });
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('names the HTTP status and the server message when the token is refused', async () => {
    const bad = join(dir, 'bad-token-dir');
    await rm(bad, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(bad));
    await writeFile(join(bad, 'token'), 'wrong');
    await writeFile(join(bad, 'ca.crt'), await readFile(join(dir, 'ca.crt')));
    await assert.rejects(detectDefaultSidecarMode({ ...inCluster(), serviceAccountTokenPath: join(bad, 'token') }), /HTTP 401: Unauthorized/);
  });
});

describe('serve never loads @kubernetes/client-node', () => {
  // A child process: imports serve's module graph, reads the version in-cluster, starts serve (no
  // credentials there), and reports every module URL it resolved.
  async function loadedBy(code: string): Promise<string[]> {
    const file = join(dir, `loaded-${Math.random().toString(36).slice(2)}.txt`);
    await run(process.execPath, ['--import', 'tsx', '--import', join(ROOT, 'test/helpers/loaded-modules-register.mjs'), '--input-type=module', '-e', code], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: dir, LOADED_MODULES_FILE: file },
      timeout: 60_000,
    });
    return (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  }

  it('not by importing serve, nor reading the version in a pod, nor starting', async () => {
    const certs = join(dir, 'certs');
    const code = `
      const { serve } = await import(${JSON.stringify(join(ROOT, 'src/cli/commands/serve.ts'))});
      const { detectDefaultSidecarMode } = await import(${JSON.stringify(join(ROOT, 'src/kube/cluster-version.ts'))});
      const detected = await detectDefaultSidecarMode(${JSON.stringify(inCluster())});
      if (detected?.mode !== 'classic') throw new Error('in-cluster version not read');
      const io = { stdout: () => {}, stderr: () => {}, readStdin: async () => '', env: {} };
      await serve.run(['--dev', '--tls-cert', ${JSON.stringify(join(certs, 'tls.crt'))}, '--tls-key', ${JSON.stringify(join(certs, 'tls.key'))}, '--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--log-level', 'error'], io);
      process.exit(0);
    `;
    const loaded = await loadedBy(code);
    assert.ok(loaded.some((u) => u.includes('/node_modules/fastify/')), 'the hook records packages (fastify is loaded)');
    assert.ok(loaded.some((u) => u.endsWith('/src/server/runtime.ts')), 'the hook records our modules (serve started)');
    assert.deepEqual(loaded.filter((u) => u.includes(CLIENT_NODE)), [], 'no module of @kubernetes/client-node');
  });

  it('while a kubeconfig path (the CLI commands that talk to the cluster) does load it, so the check can fail', async () => {
    const loaded = await loadedBy(`await import(${JSON.stringify(join(ROOT, 'src/kube/kubeconfig.ts'))});`);
    assert.ok(loaded.some((u) => u.includes(CLIENT_NODE)));
  });
});

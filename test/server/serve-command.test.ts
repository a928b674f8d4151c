// `exporter-injector serve` failing at start-up: a clear message, the documented exit code, and
// nothing left listening. (Running and draining are covered by shutdown.test.ts.)
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { exitCodeOf } from '../../src/errors.js';
import { fakeIo } from '../helpers/fake-io.js';
import { tempDir, testPki } from './fixtures.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

describe('serve start-up failures', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const certDir = async (): Promise<string> => {
    const dir = await tempDir('serve-cmd');
    dirs.push(dir);
    const pair = testPki().issue();
    await writeFile(join(dir, 'tls.crt'), pair.cert);
    await writeFile(join(dir, 'tls.key'), pair.key);
    return dir;
  };
  const base = (dir: string) => ['--host', '127.0.0.1', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--sidecar-mode', 'native', '--log-level', 'silent'];

  it('prints its flags and their environment variables for --help', async () => {
    const cli = fakeIo();
    assert.equal(await main(['serve', '--help'], cli.io), 0);
    assert.match(cli.stdout(), /--tls-cert[\s\S]*EXPORTER_INJECTOR_TLS_CERT/);
    assert.match(cli.stdout(), /--drain-timeout[\s\S]*default 25/);
  });

  it('exits 2 listing every invalid setting, from flags and environment', async () => {
    const cli = fakeIo('', { EXPORTER_INJECTOR_LOG_LEVEL: 'chatty' });
    assert.equal(await main(['serve', '--port', 'https', '--sidecar-mode', 'new'], cli.io), 2);
    const err = cli.stderr();
    assert.match(err, /--port "https"/);
    assert.match(err, /EXPORTER_INJECTOR_LOG_LEVEL "chatty"/);
    assert.match(err, /--sidecar-mode "new"/);
  });

  it('exits with the input code naming the file when the certificate is broken', async () => {
    const dir = await certDir();
    await writeFile(join(dir, 'tls.crt'), 'garbage\n');
    const cli = fakeIo();
    assert.equal(await main(['serve', ...base(dir), '--port', '0', '--health-port', '0'], cli.io), exitCodeOf('EI_ERR_TLS_INVALID'));
    assert.match(cli.stderr(), /tls\.crt does not hold a PEM certificate/);
  });

  it('exits 2 when the webhook port is taken, without leaving the health port open', async () => {
    const dir = await certDir();
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const takenPort = (taken.address() as { port: number }).port;
    const healthPort = await freePort();
    try {
      const cli = fakeIo();
      assert.equal(await main(['serve', ...base(dir), '--port', String(takenPort), '--health-port', String(healthPort)], cli.io), 2);
      assert.match(cli.stderr(), new RegExp(`--port ${takenPort}: cannot listen on 127.0.0.1: the port is already in use`));
      assert.equal(await listening(healthPort), false, 'the health server is closed again');
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});

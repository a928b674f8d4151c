// `npm start` (serve --dev) on a fresh checkout: creates development certificates, serves, and
// shows itself working with the example review over real TLS.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'ei-dev-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('serve --dev', () => {
  // Run from another folder than the checkout: the example review ships with the package.
  it('generates certificates, then answers the example review with an injected sidecar, from any working directory', async () => {
    const child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url)), 'serve', '--dev', '--host', '127.0.0.1', '--port', '0', '--health-port', '0', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--sidecar-mode', 'native'],
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      const deadline = Date.now() + 30_000;
      while (!/self-check/.test(stderr) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      const printed = /self-check: POST \/mutate with \/\S*deploy\/examples\/review-redis\.json -> (allowed=true, \d+ patch operations, sidecar redis-exporter)/.exec(stderr);
      assert.ok(printed, stderr);
      // The README's first command promises this line: what it quotes must be what a user sees.
      const promised = /`self-check: … -> (allowed=\S+, \d+ patch operations, sidecar [\w-]+)`/.exec(readFileSync(new URL('../../README.md', import.meta.url), 'utf8').replace(/\s+/g, ' '));
      assert.equal(promised?.[1], printed[1], 'the self-check line the README quotes');
      for (const file of ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']) assert.ok(existsSync(join(dir, file)), `${file} created`);
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    }
    assert.equal(child.exitCode, 0, 'SIGTERM drains and exits 0');
  });
});

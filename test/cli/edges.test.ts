// Edges a new user steps on first: every command fails, suggests and exits the same way, and
// offline variants exist wherever a hint names one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { COMMANDS, main } from '../../src/cli/main.js';
import { EXIT, ERROR_CODES, exitCodeOf, type ErrorCode } from '../../src/errors.js';
import { buildHealthApp } from '../../src/server/health-app.js';
import { createMetrics } from '../../src/server/metrics.js';
import { fakeIo } from '../helpers/fake-io.js';

const tmp = mkdtempSync(join(tmpdir(), 'ei-edges-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function run(args: string[], env: Record<string, string> = {}) {
  const f = fakeIo('', { HOME: tmp, ...env });
  const code = await main(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}

describe('one way to fail', () => {
  it('every command answers --help with its flags and exit codes, and refuses an unknown flag with a suggestion', async () => {
    for (const name of Object.keys(COMMANDS)) {
      const help = await run([name, '--help']);
      assert.equal(help.code, EXIT.OK, `${name} --help`);
      assert.match(help.stdout, new RegExp(`^usage: exporter-injector ${name} `), `${name} --help usage line`);
      assert.match(help.stdout, /\nexit codes:\n/);
      const unknown = await run([name, '--halp']);
      assert.equal(unknown.code, EXIT.USAGE, `${name} --halp`);
      assert.match(unknown.stderr, new RegExp(`^error: ${name}: unknown flag --halp \\(did you mean --help\\?\\) \\(see "exporter-injector ${name} --help"\\)\\n$`));
    }
  });

  it('the exit code of every error code comes from the catalog', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) assert.ok(Object.values(EXIT).includes(exitCodeOf(code)), code);
    assert.equal(exitCodeOf('EI_ERR_USAGE'), EXIT.USAGE);
    assert.equal(exitCodeOf('EI_ERR_REGISTRY_INVALID'), EXIT.INPUT);
  });

  it('serve with an invalid templates directory exits with the catalog code for an invalid registry', async () => {
    const bad = new URL('../testdata/registry/', import.meta.url).pathname;
    const r = await run(['serve', '--templates', join(bad, 'does-not-exist'), '--dev', '--port', '0', '--health-port', '0', '--tls-cert', join(tmp, 'tls.crt'), '--tls-key', join(tmp, 'tls.key')]);
    assert.equal(r.code, exitCodeOf('EI_ERR_CONFIG_INVALID'));
    assert.match(r.stderr, /does-not-exist: not found; want a directory/);
  });

  it('unregister offers the --dry-run its error suggests', async () => {
    const real = await run(['unregister'], { KUBECONFIG: '' });
    assert.equal(real.code, exitCodeOf('EI_ERR_KUBE_API'));
    assert.match(real.stderr, /no cluster credentials.*\(or use --dry-run\)/);
    const dry = await run(['unregister', '--dry-run']);
    assert.equal(dry.code, EXIT.OK, dry.stderr);
    assert.match(dry.stdout, /mutatingwebhookconfiguration\/exporter-injector would be deleted/);
  });

  it('the health port answers an unknown path with the same error shape as the webhook port', async () => {
    const app = buildHealthApp({ logger: pino({ level: 'silent' }), metrics: createMetrics(), readiness: () => ({ ready: true, reasons: [] }) });
    const res = await app.inject({ method: 'GET', url: '/nope' });
    assert.equal(res.statusCode, 404);
    const body = res.json() as { code: string; message: string };
    assert.equal(body.code, 'EI_ERR_HTTP_ROUTE');
    assert.match(body.message, /GET \/nope/);
    await app.close();
  });
});

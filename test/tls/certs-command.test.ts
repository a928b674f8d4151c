// `exporter-injector certs` end to end through the CLI entry point (exit codes included).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { parse } from 'yaml';
import { main } from '../../src/cli/main.js';
import { EXIT } from '../../src/cli/io.js';
import { certificatePaths, checkServingPair } from '../../src/tls/files.js';
import { memoryIo, tempDir } from './support.js';

async function run(...argv: string[]) {
  const io = memoryIo();
  const code = await main(['certs', ...argv], io);
  return { code, out: io.out(), err: io.err() };
}

async function x509(path: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(path, 'utf8'));
}

describe('certs into a folder', () => {
  it('writes a CA and a serving pair for the default Service, and says what it wrote', async (t) => {
    const out = join(await tempDir(t), 'certs');
    const result = await run('--out', out);
    assert.equal(result.code, EXIT.OK, result.err);
    const paths = certificatePaths(out);
    for (const path of Object.values(paths)) assert.ok(result.out.includes(`wrote ${path}`), `mentions ${path}`);
    const leaf = await x509(paths.certPath);
    assert.ok(result.out.includes(leaf.fingerprint256), 'prints the serving fingerprint');
    assert.ok(result.out.includes(new Date(leaf.validTo).toISOString()), 'prints the serving expiry');
    assert.equal(leaf.checkIssued(await x509(paths.caCertPath)), true);
    assert.equal(leaf.checkHost('exporter-injector.exporter-injector.svc'), 'exporter-injector.exporter-injector.svc');
    assert.equal(leaf.checkHost('localhost'), undefined, 'no dev names without --dev');
    assert.equal((await stat(paths.keyPath)).mode & 0o777, 0o600);
    assert.equal((await stat(paths.caKeyPath)).mode & 0o777, 0o600);
  });

  it('applies --service, --namespace, --san, --dev, --days and --key-size', async (t) => {
    const out = await tempDir(t);
    const result = await run('--out', out, '--service', 'hook', '--namespace', 'team-a', '--san', '10.0.0.7', '--san', 'hook.example.com', '--dev', '--days', '30', '--key-size', '3072');
    assert.equal(result.code, EXIT.OK, result.err);
    const leaf = await x509(certificatePaths(out).certPath);
    assert.equal(leaf.checkHost('hook.team-a.svc'), 'hook.team-a.svc');
    assert.equal(leaf.checkHost('hook.team-a.svc.cluster.local'), 'hook.team-a.svc.cluster.local');
    assert.equal(leaf.checkHost('hook.example.com'), 'hook.example.com');
    assert.equal(leaf.checkHost('localhost'), 'localhost');
    assert.equal(leaf.checkIP('10.0.0.7'), '10.0.0.7');
    assert.equal(leaf.checkIP('::1'), '::1');
    const days = (new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()) / 86_400_000;
    assert.ok(days > 30 && days < 30.01, `valid for 30 days (plus the back-dating), got ${days}`);
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 3072);
  });

  it('refuses to overwrite without --force, naming the files, and overwrites with it', async (t) => {
    const out = await tempDir(t);
    assert.equal((await run('--out', out)).code, EXIT.OK);
    const paths = certificatePaths(out);
    const before = await readFile(paths.certPath, 'utf8');

    const refused = await run('--out', out);
    assert.equal(refused.code, EXIT.USAGE);
    assert.match(refused.err, /already exist/);
    assert.ok(refused.err.includes(paths.certPath) && refused.err.includes(paths.keyPath), refused.err);
    assert.match(refused.err, /--force/);
    assert.equal(await readFile(paths.certPath, 'utf8'), before, 'the refused run changed nothing');

    assert.equal((await run('--out', out, '--force')).code, EXIT.OK);
    assert.notEqual(await readFile(paths.certPath, 'utf8'), before);
  });

  it('signs with an existing CA, copying ca.crt but not its key', async (t) => {
    const caDir = await tempDir(t);
    assert.equal((await run('--out', caDir)).code, EXIT.OK);
    const ca = certificatePaths(caDir);
    const out = await tempDir(t);
    const result = await run('--out', out, '--ca-cert', ca.caCertPath, '--ca-key', ca.caKeyPath);
    assert.equal(result.code, EXIT.OK, result.err);
    assert.deepEqual((await readdir(out)).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.equal(await readFile(join(out, 'ca.crt'), 'utf8'), await readFile(ca.caCertPath, 'utf8'));
    const leaf = await x509(join(out, 'tls.crt'));
    assert.equal(leaf.checkIssued(await x509(ca.caCertPath)), true);
    assert.equal(leaf.verify((await x509(ca.caCertPath)).publicKey), true);
  });

  it('renews only the serving pair in place when given the folder\'s own CA', async (t) => {
    const out = await tempDir(t);
    assert.equal((await run('--out', out)).code, EXIT.OK);
    const paths = certificatePaths(out);
    const caBefore = await readFile(paths.caCertPath, 'utf8');
    const renew = ['--out', out, '--ca-cert', paths.caCertPath, '--ca-key', paths.caKeyPath];

    const refused = await run(...renew);
    assert.equal(refused.code, EXIT.USAGE);
    assert.ok(!refused.err.includes(paths.caCertPath), 'an unchanged ca.crt is no conflict');

    assert.equal((await run(...renew, '--force')).code, EXIT.OK);
    assert.equal(await readFile(paths.caCertPath, 'utf8'), caBefore);
    assert.equal((await x509(paths.certPath)).checkIssued(new X509Certificate(caBefore)), true);
  });

  it('fails with the CA file named when the CA cannot be used', async (t) => {
    const out = await tempDir(t);
    assert.equal((await run('--out', out)).code, EXIT.OK);
    const paths = certificatePaths(out);
    const result = await run('--out', await tempDir(t), '--ca-cert', paths.certPath, '--ca-key', paths.keyPath);
    assert.equal(result.code, EXIT.INPUT);
    assert.ok(result.err.includes(`${paths.certPath} is not a CA certificate`), result.err);
  });
});

describe('certs --secret', () => {
  it('prints only a valid kubernetes.io/tls Secret holding a matching pair and its CA', async () => {
    const result = await run('--secret', '--namespace', 'monitoring');
    assert.equal(result.code, EXIT.OK, result.err);
    const manifest = parse(result.out) as ISecret;
    new Secret(manifest).validate();
    assert.equal(manifest.type, 'kubernetes.io/tls');
    assert.equal(manifest.metadata?.name, 'exporter-injector-tls');
    assert.equal(manifest.metadata?.namespace, 'monitoring');
    const data = manifest.data ?? {};
    assert.deepEqual(Object.keys(data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    const decode = (key: string): string => Buffer.from(data[key] ?? '', 'base64').toString('utf8');
    const pair = checkServingPair(decode('tls.crt'), decode('tls.key'));
    const leaf = new X509Certificate(pair.cert);
    assert.equal(leaf.checkIssued(new X509Certificate(decode('ca.crt'))), true);
    assert.equal(leaf.checkHost('exporter-injector.monitoring.svc'), 'exporter-injector.monitoring.svc');
    assert.ok(result.err.includes(pair.fingerprint), 'the summary goes to stderr');
  });

  it('uses --secret-name', async () => {
    const result = await run('--secret', '--secret-name', 'webhook-tls');
    assert.equal(result.code, EXIT.OK, result.err);
    assert.equal((parse(result.out) as ISecret).metadata?.name, 'webhook-tls');
  });
});

describe('certs usage errors', () => {
  const cases: [string[], RegExp][] = [
    [['--key-size', '1024'], /--key-size "1024" is invalid; valid: 2048, 3072, 4096.*ECDSA/],
    [['--days', '0'], /--days "0" is invalid/],
    [['--ca-days', 'ten'], /--ca-days "ten" is invalid/],
    [['--san', 'not_a_name'], /--san "not_a_name" is invalid/],
    [['--service', 'Hook'], /--service "Hook" is invalid; a Service name is a DNS-1035 label/],
    [['--namespace', 'a.b'], /--namespace "a.b" is invalid/],
    [['--ca-cert', 'ca.crt'], /--ca-cert and --ca-key go together/],
    [['--ca-cert', 'ca.crt', '--ca-key', 'ca.key', '--ca-days', '10'], /--ca-days .* cannot be used with --ca-cert/],
    [['--secret', '--out', 'x'], /--out .* cannot be used with --secret/],
    [['--secret-name', 'x'], /--secret-name needs --secret/],
    [['--secret', '--secret-name', 'Bad_Name'], /--secret-name "Bad_Name" is invalid/],
    [['--frobnicate'], /certs: unknown flag --frobnicate/],
    [['--secret-nam', 'x'], /unknown flag --secret-nam \(did you mean --secret-name\?\)/],
  ];
  for (const [argv, message] of cases) {
    it(`rejects ${argv.join(' ')}`, async () => {
      const result = await run(...argv);
      assert.equal(result.code, EXIT.USAGE);
      assert.match(result.err, message);
      assert.equal(result.out, '');
    });
  }

  it('explains itself with --help, including the ECDSA limit', async () => {
    const result = await run('--help');
    assert.equal(result.code, EXIT.OK);
    assert.match(result.out, /--secret/);
    assert.match(result.out, /cannot make ECDSA/);
  });
});

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { main } from '../../src/cli/main.js';
import { exitCodeOf } from '../../src/errors.js';
import { fakeIo } from '../helpers/fake-io.js';
import { FakeApiServer } from './fake-apiserver.js';

const WEBHOOK_DIR = join(import.meta.dirname, '..', 'testdata', 'webhook');
const CA_FILE = join(WEBHOOK_DIR, 'ca.crt');
const ITEM = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/exporter-injector';

async function run(argv: string[], env: Record<string, string | undefined> = {}) {
  const { io, stdout, stderr } = fakeIo('', env);
  const code = await main(argv, io);
  return { code, stdout: stdout(), stderr: stderr() };
}

describe('register --dry-run (no cluster)', () => {
  let empty: string;
  before(async () => {
    empty = await mkdtemp(join(tmpdir(), 'ei-register-'));
  });
  after(async () => rm(empty, { recursive: true, force: true }));

  it('prints exactly the golden object for the same options', async () => {
    const r = await run(['register', '--dry-run', '-o', 'yaml', '--ca-file', CA_FILE], { HOME: empty });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, await readFile(join(WEBHOOK_DIR, 'default.yaml'), 'utf8'));
    const gated = await run(['register', '--dry-run', '--label-gate', '--failure-policy', 'Fail', '--timeout', '10', '--ca-file', join(empty, 'none.crt')]);
    assert.equal(gated.code, 3, 'an explicitly named CA file that is missing is an input error');
    assert.match(gated.stderr, /cannot read the CA certificate .*none\.crt: ENOENT/);
  });

  it('without a CA file prints the object without caBundle and says so; -o json prints the same object', async () => {
    const previous = process.cwd();
    process.chdir(empty);
    try {
      const y = await run(['register', '--dry-run', '--label-gate', '--failure-policy', 'Fail', '--timeout', '10']);
      const j = await run(['register', '--dry-run', '--label-gate', '--failure-policy', 'Fail', '--timeout', '10', '-o', 'json']);
      assert.equal(y.code, 0, y.stderr);
      assert.match(y.stderr, /certs\/ca\.crt does not exist; the printed object has no caBundle/);
      assert.equal(y.stdout, await readFile(join(WEBHOOK_DIR, 'label-gate-fail-timeout.yaml'), 'utf8'));
      const list = JSON.parse(j.stdout);
      assert.deepEqual([list.apiVersion, list.kind], ['v1', 'List']);
      assert.deepEqual(list.items, parseAllDocuments(y.stdout).map((d) => d.toJS()));
    } finally {
      process.chdir(previous);
    }
  });

  const usageErrors: [string[], RegExp][] = [
    [['--timeout', '31'], /--timeout "31" is invalid; valid: a whole number from 1 to 30/],
    [['--failure-policy', 'ignore'], /--failure-policy "ignore" is invalid \(did you mean Ignore\?\); valid: PerPod, Ignore, Fail/],
    [['--validation-action', 'Audit'], /--validation-action "Audit" is invalid.*; valid: Warn, Deny/],
    [['--kube-version', '1.x'], /--kube-version "1\.x" is invalid; valid: a Kubernetes version such as 1\.27/],
    [['--port', '0'], /--port "0" is invalid/],
    [['-o', 'table'], /-o "table" is invalid; valid: yaml, json/],
    [['--namespace', 'Bad_NS'], /namespace "Bad_NS" is not a DNS label/],
    [['--bogus'], /register: unknown flag --bogus/],
    [['--lable-gate'], /unknown flag --lable-gate \(did you mean --label-gate\?\)/],
  ];
  for (const [flags, message] of usageErrors) {
    it(`exits 2 for ${flags.join(' ')}`, async () => {
      const r = await run(['register', '--dry-run', ...flags]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }

  it('--kube-version 1.27 prints the legacy shape and says why on stderr; 1.29 prints no policy', async () => {
    const legacy = await run(['register', '--dry-run', '--kube-version', '1.27', '--ca-file', CA_FILE]);
    assert.equal(legacy.code, 0, legacy.stderr);
    const printed = parseAllDocuments(legacy.stdout).map((d) => d.toJS());
    for (const hook of printed[0].webhooks) delete hook.clientConfig.caBundle;
    assert.deepEqual(printed, parseAllDocuments(await readFile(join(WEBHOOK_DIR, 'kube-1.27-legacy.yaml'), 'utf8')).map((d) => d.toJS()));
    assert.match(legacy.stderr, /note: Kubernetes 1\.27 has no webhook matchConditions.*--label-gate/);
    assert.match(legacy.stderr, /note: Kubernetes 1\.27 has no ValidatingAdmissionPolicy v1/);
    const v129 = await run(['register', '--dry-run', '--kube-version', 'v1.29.4', '-o', 'json', '--ca-file', CA_FILE]);
    assert.deepEqual(JSON.parse(v129.stdout).items.map((o: { kind: string }) => o.kind), ['MutatingWebhookConfiguration']);
  });

  it('exits 2 for -o or --kube-version without --dry-run and for --ensure-secret with --dry-run, before touching a cluster', async () => {
    assert.equal((await run(['register', '-o', 'yaml'])).code, 2);
    const v = await run(['register', '--kube-version', '1.27']);
    assert.equal(v.code, 2);
    assert.match(v.stderr, /--kube-version picks the shape for --dry-run/);
    const r = await run(['register', '--dry-run', '--ensure-secret', 'exporter-injector-tls']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--ensure-secret creates a Secret and cannot be used with --dry-run/);
  });

  it('says where it looked when there are no credentials', async () => {
    const r = await run(['register', '--ca-file', CA_FILE], { HOME: empty });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no cluster credentials: no --kubeconfig, KUBECONFIG is unset, ~\/\.kube\/config does not exist/);
  });

  it('prints --help for both commands', async () => {
    const r = await run(['register', '--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--service', '--namespace', '--path', '--port', '--failure-policy', '--validation-action', '--kube-version', '--timeout', '--label-gate', '--ca-file', '--ensure-secret', '--kubeconfig', '--context', '--name', '--dry-run', '--output']) {
      assert.ok(r.stdout.includes(flag), `register --help mentions ${flag}`);
    }
    const u = await run(['unregister', '-h']);
    assert.equal(u.code, 0);
    assert.match(u.stdout, /Already absent is not an error/);
  });
});

describe('register / unregister against the API server stand-in', () => {
  let fake: FakeApiServer;
  let home: string;
  before(async () => {
    fake = await FakeApiServer.start({ token: 'cli-token' });
    home = await mkdtemp(join(tmpdir(), 'ei-register-home-'));
  });
  after(async () => {
    await fake.stop();
    await rm(home, { recursive: true, force: true });
  });
  beforeEach(() => {
    fake.requests.length = 0;
  });

  it('creates, then reports unchanged, then lists what an option change updates; unregister exits 0 twice', async () => {
    const base = ['--kubeconfig', fake.kubeconfigPath, '--ca-file', CA_FILE];
    const created = await run(['register', ...base]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(
      created.stdout,
      `mutatingwebhookconfiguration/exporter-injector created at ${fake.url}\n` +
        `validatingadmissionpolicy/exporter-injector-final-state created at ${fake.url}\n` +
        `validatingadmissionpolicybinding/exporter-injector-final-state created at ${fake.url}\n`,
    );
    assert.equal(created.stderr, '', 'a 1.30 server gets every object: nothing to warn about');

    const unchanged = await run(['register', ...base]);
    assert.equal(
      unchanged.stdout,
      `mutatingwebhookconfiguration/exporter-injector unchanged at ${fake.url}\n` +
        `validatingadmissionpolicy/exporter-injector-final-state unchanged at ${fake.url}\n` +
        `validatingadmissionpolicybinding/exporter-injector-final-state unchanged at ${fake.url}\n` +
        'nothing changed (Kubernetes v1.30.4)\n',
    );

    const updated = await run(['register', ...base, '--label-gate', '--timeout', '3']);
    const hooks = ['required', 'optional'].map((p) => `webhooks[${p}.inject.exporter-injector.io]`);
    assert.equal(
      updated.stdout,
      `mutatingwebhookconfiguration/exporter-injector updated at ${fake.url}:\n` +
        hooks.map((h) => `  ${h}.objectSelector: {} -> {"matchLabels":{"exporter-injector.io/enabled":"true"}}\n  ${h}.timeoutSeconds: 5 -> 3\n`).join('') +
        `validatingadmissionpolicy/exporter-injector-final-state updated at ${fake.url}:\n` +
        updated.stdout.split('\n').filter((l) => l.startsWith('  spec: ')).join('\n') + '\n' +
        `validatingadmissionpolicybinding/exporter-injector-final-state unchanged at ${fake.url}\n`,
    );

    const deleted = await run(['unregister', '--kubeconfig', fake.kubeconfigPath]);
    assert.equal(deleted.code, 0);
    assert.equal(
      deleted.stdout,
      'mutatingwebhookconfiguration/exporter-injector deleted\nvalidatingadmissionpolicy/exporter-injector-final-state deleted\nvalidatingadmissionpolicybinding/exporter-injector-final-state deleted\n',
    );
    const absent = await run(['unregister', '--kubeconfig', fake.kubeconfigPath]);
    assert.equal(absent.code, 0, 'unregistering a missing object succeeds');
    assert.match(absent.stdout, /not found at .*; nothing to delete/);
    assert.equal(fake.calls().filter((c) => c === `DELETE ${ITEM}`).length, 2);
  });

  it('--context picks a context of the kubeconfig; an unknown one is a usage error listing the known ones', async () => {
    const config = (await readFile(fake.kubeconfigPath, 'utf8'))
      .replace('current-context: fake', 'current-context: elsewhere')
      .replace(/contexts:\n/, 'contexts:\n  - name: elsewhere\n    context:\n      cluster: nowhere\n      user: tester\n');
    const path = join(home, 'two-contexts');
    await writeFile(path, `${config}`);
    const ok = await run(['register', '--kubeconfig', path, '--context', 'fake', '--ca-file', CA_FILE]);
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await run(['unregister', '--kubeconfig', path, '--context', 'prod']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--context "prod" is not in .*; contexts: .*fake/);
    assert.equal((await run(['unregister', '--kubeconfig', path, '--context', 'fake'])).code, 0);
  });

  it('--ensure-secret creates the TLS Secret once and registers the CA that is in it', async () => {
    const first = await run(['register', '--kubeconfig', fake.kubeconfigPath, '--ensure-secret', 'exporter-injector-tls']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^secret\/exporter-injector-tls in namespace exporter-injector created/);
    const secret = fake.secret('exporter-injector', 'exporter-injector-tls');
    assert.equal(secret?.type, 'kubernetes.io/tls');
    const caPem = Buffer.from(secret?.data['ca.crt'], 'base64').toString('utf8');
    const leaf = new X509Certificate(Buffer.from(secret?.data['tls.crt'], 'base64'));
    assert.ok(leaf.verify(new X509Certificate(caPem).publicKey), 'the serving certificate is signed by the Secret\'s CA');
    assert.match(leaf.subjectAltName ?? '', /DNS:exporter-injector\.exporter-injector\.svc\b/);
    const mwc = fake.mwc('exporter-injector');
    assert.equal(Buffer.from(mwc?.webhooks[0].clientConfig.caBundle, 'base64').toString('utf8'), caPem);

    fake.requests.length = 0;
    const second = await run(['register', '--kubeconfig', fake.kubeconfigPath, '--ensure-secret', 'exporter-injector-tls']);
    assert.match(second.stdout, /exists; using its ca\.crt\nmutatingwebhookconfiguration\/exporter-injector unchanged/);
    assert.ok(!fake.calls().some((c) => c.startsWith('POST')), 'an existing Secret is never replaced');
    assert.equal((await run(['unregister', '--kubeconfig', fake.kubeconfigPath])).code, 0);
  });

  it('--ensure-secret refuses a Secret without a PEM ca.crt instead of registering a broken caBundle', async () => {
    fake.seedSecret({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'byo-tls', namespace: 'exporter-injector' }, data: { 'tls.crt': 'eA==', 'tls.key': 'eA==' } });
    const r = await run(['register', '--kubeconfig', fake.kubeconfigPath, '--ensure-secret', 'byo-tls']);
    assert.equal(r.code, exitCodeOf('EI_ERR_TLS_INVALID'));
    assert.match(r.stderr, /secrets\/byo-tls in namespace exporter-injector .* has no PEM certificate under "ca\.crt"/);
    assert.equal(fake.mwc('exporter-injector'), undefined);
  });
});

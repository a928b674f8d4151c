// The dry-run CLI as a user drives it: formats, inputs, exit codes and error messages.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { main } from '../../src/cli/main.js';
import { fakeIo } from '../helpers/fake-io.js';
import { schemaProblems } from '../helpers/k8s-schema.js';

const DATA = new URL('../testdata/inject/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'ei-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function run(args: string[], stdin = '') {
  const f = fakeIo(stdin);
  const code = await main(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}

describe('exporter-injector inject', () => {
  it('reads standard input and prints JSON', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', annotations: { 'exporter-injector.io/inject': 'redis' } }, spec: { containers: [{ name: 'redis', image: 'redis:7' }] } };
    const r = await run(['inject', '-f', '-', '-o', 'json'], JSON.stringify(pod));
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.spec.initContainers[0].name, 'redis-exporter');
  });

  it('-o patch prints per workload a patch that turns the pod template into the injected one', async () => {
    const r = await run(['inject', '-f', join(DATA, 'deployment-several-exporters.yaml'), '-o', 'patch']);
    assert.equal(r.code, 0, r.stderr);
    const [entry] = JSON.parse(r.stdout) as { workload: string; decision: string; patch: Operation[] }[];
    assert.match(entry?.workload ?? '', /Deployment shop\/cache/);
    const template = { metadata: { labels: { app: 'cache' }, annotations: { 'exporter-injector.io/inject': 'redis,statsd' } }, spec: { containers: [{ name: 'redis', image: 'redis:7.2' }, { name: 'app', image: 'example/app:1.0' }] } };
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, namespace: 'shop' }, spec: template.spec };
    const patched = jsonPatch.applyPatch(pod, entry?.patch ?? [], true, false).newDocument as unknown as { spec: { initContainers: { name: string }[] } };
    assert.deepEqual(patched.spec.initContainers.map((c) => c.name), ['redis-exporter', 'statsd-exporter']);
  });

  it('-o diff shows only added lines for an injected workload, nothing for an untouched one', async () => {
    const r = await run(['inject', '-f', join(DATA, 'multi-document.yaml'), '-o', 'diff']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\+\s+- name: nginx-exporter/);
    assert.doesNotMatch(r.stdout, /^-\s/m, 'nothing of the user manifest is removed');
    assert.doesNotMatch(r.stdout, /document 3/, 'the ReplicaSet without opt-in has no diff');
  });

  it('--explain says per workload whether and why', async () => {
    const r = await run(['inject', '-f', join(DATA, 'multi-document.yaml'), '--explain']);
    assert.equal(r.code, 0);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /DaemonSet default\/web\): injected: nginx/);
    assert.match(lines[1] ?? '', /ReplicaSet default\/plain\): not injected: not-opted-in/);
  });

  it('--explain finds drift: an injected pod against a registry whose template changed since', async () => {
    const injected = await run(['inject', '-f', join(DATA, 'redis-basic.yaml')]);
    const file = join(tmp, 'injected.yaml');
    writeFileSync(file, injected.stdout);
    const same = await run(['inject', '-f', file, '--explain']);
    assert.match(same.stdout, /not injected: already-injected\n?$/);
    assert.doesNotMatch(same.stdout, /drift/);
    const changed = await run(['inject', '-f', file, '--explain', '--templates', join(DATA, '..', 'templates')]);
    assert.match(changed.stdout, /drift: template "redis" changed since injection: 1\.0\.0 sha256:[0-9a-f]{16} -> 1\.0\.0-acme\.1 sha256:[0-9a-f]{16}/);
  });

  it('reads a directory recursively, keeping unknown kinds unchanged', async () => {
    const dir = join(tmp, 'manifests');
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(join(tmp, 'ignored.txt'), 'not yaml');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'nested'), { recursive: true }));
    writeFileSync(join(dir, 'a.yaml'), 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  template: {}\n');
    writeFileSync(join(dir, 'nested', 'b.yml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    exporter-injector.io/inject: memcached\nspec:\n  containers:\n    - name: m\n      image: memcached:1.6\n');
    const r = await run(['inject', '-f', dir]);
    assert.equal(r.code, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
    assert.deepEqual(docs[0], { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { template: {} } });
    assert.equal(docs[1].spec.initContainers[0].name, 'memcached-exporter');
  });

  it('prints valid manifests for the bundled examples, each workload injected', async () => {
    const examples = readdirSync('deploy/examples').filter((f) => f.endsWith('.yaml')).flatMap((f) => ['-f', join('deploy/examples', f)]);
    const r = await run(['inject', ...examples]);
    assert.equal(r.code, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { apiVersion: string; kind: string });
    for (const doc of docs) assert.deepEqual(schemaProblems(doc), [], `${doc.kind}: valid (OpenAPI schema, no unknown field)`);
    const workloads = docs.filter((d) => d.kind !== 'Secret');
    assert.ok(workloads.length >= 3);
    for (const w of workloads) assert.match(JSON.stringify(w), /"exporter-injector.io\/injected":"true"/, `${w.kind} injected`);
  });

  it('exits 1 when a pod would be denied and says which pod and why', async () => {
    const r = await run(['inject', '-f', join(DATA, 'port-clash.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .*port-clash\.yaml \(document 1, Pod default\/port-clash\): template "redis": port 9121 is already used by container "app"/m);
  });

  it('exits 3 with file:line for YAML that does not parse', async () => {
    const file = join(tmp, 'broken.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n');
    const r = await run(['inject', '-f', file]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /broken\.yaml:\d+:\d+ \(document 1\)/);
  });

  it('exits 3 for a missing file and 2 for usage errors, naming what is valid', async () => {
    const missing = await run(['inject', '-f', join(tmp, 'nope.yaml')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /nope\.yaml: no such file or directory/);
    const format = await run(['inject', '-f', '-', '-o', 'toml']);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /valid: yaml, json, patch, diff/);
    const flag = await run(['inject', '--nope']);
    assert.equal(flag.code, 2);
    const mode = await run(['inject', '-f', '-', '--sidecar-mode', 'sometimes']);
    assert.equal(mode.code, 2);
    assert.match(mode.stderr, /valid: auto, native, classic/);
  });

  it('goes on with the other documents when aliases explode or point into another document, exit 3, no stack trace', async () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n');
    const crossDocument = 'apiVersion: v1\nkind: ConfigMap\nmetadata: &meta\n  name: one\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: *meta\n';
    const fine = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    exporter-injector.io/inject: redis\nspec:\n  containers:\n    - name: redis\n      image: redis:7\n';
    for (const [name, text] of [['bomb', bomb], ['cross', crossDocument]] as const) {
      const file = join(tmp, `${name}.yaml`);
      writeFileSync(file, `${text}\n---\n${fine}`);
      const r = await run(['inject', '-f', file]);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, new RegExp(`${name}\\.yaml(:\\d+:\\d+)? \\(document \\d\\)`), r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.match(r.stdout, /name: redis-exporter/, 'the readable pod was still injected');
    }
  });

  it('--explain -o json says per workload what happened, for machines; problems appear once, not on stderr too', async () => {
    const r = await run(['inject', '-f', join(DATA, 'port-clash.yaml'), '-f', join(DATA, 'multi-document.yaml'), '--explain', '-o', 'json']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, '', 'with --explain the problems are in the explanation only');
    const records = JSON.parse(r.stdout) as { file: string; document: number; workload: string; decision: string; reason: string; problems: { code: string }[] }[];
    const summary = records.map((x) => [x.document, x.workload, x.decision, x.reason]);
    assert.deepEqual(summary[0], [1, 'Pod default/port-clash', 'denied', 'denied']);
    assert.deepEqual(summary[1], [2, 'DaemonSet default/web', 'injected', 'injected']);
    assert.ok(summary.some(([, workload, decision, reason]) => workload === 'ReplicaSet default/plain' && decision === 'skipped' && reason === 'not-opted-in'));
    assert.equal(records[0]?.problems[0]?.code, 'EI_ERR_CLASH_PORT');
  });

  it('--version prints the package version; flags typos get a suggestion', async () => {
    const version = await run(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^exporter-injector \d+\.\d+\.\d+\n$/);
    const typo = await run(['inject', '-f', '-', '--explan']);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown flag --explan \(did you mean --explain\?\)/);
    assert.doesNotMatch(typo.stderr, /Unknown option|ambiguous|ERR_PARSE_ARGS/);
    const missingValue = await run(['inject', '-o']);
    assert.equal(missingValue.code, 2);
    assert.match(missingValue.stderr, /-o needs a value \(FORMAT\); valid: yaml, json, patch, diff/);
    const help = await run(['inject', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--sidecar-mode MODE .*env EXPORTER_INJECTOR_SIDECAR_MODE/);
    assert.match(help.stdout, /exit codes:\n  0 .*\n  1 .*\n  2 .*\n  3 /);
  });

  it('unknown command lists the valid ones', async () => {
    const r = await run(['injekt']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "injekt" \(did you mean inject\?\); valid commands: serve, inject, review/);
  });
});

describe('exporter-injector review', () => {
  const reviewOf = (annotations: Record<string, string>) =>
    JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ns', object: { metadata: { name: 'p', annotations }, spec: { containers: [{ name: 'a', image: 'a' }] } } },
    });

  it('prints the AdmissionReview response and exits 0 when allowed', async () => {
    const r = await run(['review', '-f', '-'], reviewOf({ 'exporter-injector.io/inject': 'redis' }));
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.response.uid, 'u-1');
    assert.equal(out.response.patchType, 'JSONPatch');
  });

  it('exits 1 on a denial and 3 on a malformed review', async () => {
    const denied = await run(['review', '-f', '-'], reviewOf({ 'exporter-injector.io/inject': 'nope' }));
    assert.equal(denied.code, 1);
    assert.equal(JSON.parse(denied.stdout).response.allowed, false);
    const malformed = await run(['review', '-f', '-'], '{"kind":"AdmissionReview"}');
    assert.equal(malformed.code, 3);
    assert.match(malformed.stderr, /EI_ERR_REVIEW_INVALID/);
  });

  it('names a missing file plainly, and standard input as <stdin> as inject does', async () => {
    const missing = await run(['review', '-f', join(tmp, 'absent.json')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /^error: \/.*absent\.json: no such file or directory\n$/);
    const bad = await run(['review', '-f', '-'], '{"kind":');
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /^error: <stdin>: /);
  });
});

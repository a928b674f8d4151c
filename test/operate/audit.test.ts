// `exporter-injector audit` against the cluster stand-in: thousands of healthy pods, listed in pages, and the
// planted pods that missed injection or drifted found exactly, grouped by workload, with their reasons;
// `--restart` patches exactly those workloads as `kubectl rollout restart` does, `--dry-run` patches nothing.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import type { Registry } from '../../src/core/types.js';
import { BUILTIN_DIR, loadRegistry } from '../../src/registry/load.js';
import { buildWebhookConfiguration } from '../../src/kube/webhook-config.js';
import { ClusterStandIn } from '../helpers/cluster-standin.js';
import { run } from './installation.js';
import { injected, populate, type Planted } from './population.js';

interface AuditJson {
  scanned: { pods: number; pages: number };
  findings: number;
  workloads: { kind: string; namespace: string; name: string; restartable: boolean; reasons: { kind: string; reason: string; pods: number }[]; pods: { pod: string; kind: string; reasons: string[] }[] }[];
  restarts?: { kind: string; namespace: string; name: string; action: string; message: string }[];
}

const HEALTHY = 3000;
const PAGE = 100;

function found(report: AuditJson, kind: string): Record<string, string[]> {
  return Object.fromEntries(
    report.workloads
      .filter((w) => w.pods.some((p) => p.kind === kind))
      .map((w) => [`${w.kind}/${w.namespace}/${w.name}`, w.pods.filter((p) => p.kind === kind).map((p) => p.pod).sort()]),
  );
}

describe('audit', () => {
  let cluster: ClusterStandIn;
  let registry: Registry;
  let planted: Planted;
  let templatesDir: string;
  let kubeconfig: string;

  before(async () => {
    cluster = await ClusterStandIn.start();
    for (const ns of ['default', 'exporter-injector']) cluster.addNamespace(ns);
    cluster.api.seedMwc(buildWebhookConfiguration() as never);
    registry = await loadRegistry();
    planted = populate(cluster, registry, HEALTHY);
    kubeconfig = cluster.kubeconfigPath;
    templatesDir = await mkdtemp(join(tmpdir(), 'ei-audit-templates-'));
    const memcached = await readFile(join(BUILTIN_DIR, 'memcached.yaml'), 'utf8');
    await writeFile(join(templatesDir, 'memcached.yaml'), memcached.replace(/^version: .*$/m, 'version: 9.9.9'));
  });
  after(async () => {
    await cluster.stop();
    await rm(templatesDir, { recursive: true, force: true });
  });

  it('finds exactly the planted pods among thousands, grouped by workload, reading the list in pages', async () => {
    const callsBefore = cluster.calls().length;
    const r = await run(['audit', '--kubeconfig', kubeconfig, '--page-size', String(PAGE), '-o', 'json']);
    assert.equal(r.code, 1, `findings exit 1: ${r.stderr}`);
    const report = JSON.parse(r.stdout) as AuditJson;
    assert.deepEqual(found(report, 'missing'), Object.fromEntries(Object.entries(planted.missing).map(([k, v]) => [k, [...v].sort()])));
    assert.deepEqual(found(report, 'drifted'), planted.drifted);
    assert.equal(report.findings, 10);

    const pods = HEALTHY + 1 + 3 + 2 + 2 + 1 + 1 + 4 + 2;
    assert.equal(report.scanned.pods, pods);
    const pages = cluster.podPages.slice(-report.scanned.pages);
    assert.equal(pages.length, Math.ceil(pods / PAGE), 'one request per page');
    assert.ok(pages.every((p) => p.limit === PAGE && p.items <= PAGE), 'every page asked with the limit');
    assert.deepEqual(pages.map((p) => p.continued), [false, ...Array(pages.length - 1).fill(true)], 'every page after the first continued the previous one');

    // Owners read once each, and only for findings: no healthy api-* ReplicaSet was read.
    const gets = cluster.calls().slice(callsBefore).filter((c) => /\/(replicasets|jobs)\//.test(c)).sort();
    assert.deepEqual(gets, [
      'GET /apis/apps/v1/namespaces/shop/replicasets/cache-5d8f7c9b4',
      'GET /apis/apps/v1/namespaces/web/replicasets/front-5d8f7c9b4',
      'GET /apis/batch/v1/namespaces/batch/jobs/nightly-29001',
    ]);

    const reasons = Object.fromEntries(report.workloads.map((w) => [`${w.kind}/${w.namespace}/${w.name}`, w.reasons.map((x) => x.reason).join(' | ')]));
    assert.match(reasons['Deployment/shop/cache'] ?? '', /^created 2020-01-01T00:00:00\.000Z, before mutatingwebhookconfiguration\/exporter-injector existed/);
    assert.match(reasons['StatefulSet/shop/db'] ?? '', /^policy optional: admitted without the exporter \(with a warning\) because: .*exporter-injector\.io\/redis\.bogus/);
    assert.match(reasons['DaemonSet/exporter-injector/node-agent'] ?? '', /^namespace exporter-injector is excluded by the namespaceSelector of mutatingwebhookconfiguration\/exporter-injector$/);
    assert.match(reasons['Pod/tools/debug'] ?? '', /^the webhook did not answer when the pod was created/);
    assert.match(reasons['CronJob/batch/nightly'] ?? '', /^template "redis" changed since injection: 0\.0\.1 sha256:0000000000000000 -> \d+\.\d+\.\d+ \S+; recreate the pod to pick it up$/);
    const front = report.workloads.find((w) => w.name === 'front');
    assert.deepEqual(front?.reasons.map((x) => x.pods), [1], 'one of the four pods of front drifted');
    assert.deepEqual(
      report.workloads.map((w) => [w.kind, w.restartable]),
      [['CronJob', true], ['DaemonSet', true], ['Deployment', true], ['StatefulSet', true], ['Pod', false], ['Deployment', true]],
    );
  });

  it('prints a table by workload with the restart hint, and yaml with the same content as json', async () => {
    const table = await run(['audit', '--kubeconfig', kubeconfig]);
    assert.equal(table.code, 1);
    const lines = table.stdout.split('\n');
    assert.match(lines[0] ?? '', /^WORKLOAD\s+NAMESPACE\s+PODS\s+FINDING\s+REASON$/);
    assert.match(table.stdout, /^deployment\/cache\s+shop\s+3\s+missing\s+created 2020-01-01/m);
    assert.match(table.stdout, /^deployment\/front\s+web\s+1\s+drifted\s+template "redis" changed since injection/m);
    assert.match(table.stdout, /^10 pods in 6 workloads; scanned \d+ pods in all namespaces \(\d+ pages?\)$/m);
    assert.match(table.stdout, /^restart these 3 with: exporter-injector audit --restart$/m);
    assert.match(table.stdout, /^fix the cause first \(a restart would miss injection again\): daemonset\/node-agent in exporter-injector, statefulset\/db in shop$/m);
    assert.match(table.stdout, /^not restartable by audit \(recreate their pods yourself\): pod\/debug in tools$/m);
    const yaml = await run(['audit', '--kubeconfig', kubeconfig, '-o', 'yaml']);
    const json = await run(['audit', '--kubeconfig', kubeconfig, '-o', 'json']);
    assert.deepEqual(parse(yaml.stdout), JSON.parse(json.stdout));
  });

  it('-n lists one namespace through the namespaced pod list', async () => {
    const before = cluster.calls().length;
    const r = await run(['audit', '--kubeconfig', kubeconfig, '-n', 'shop', '-o', 'json', '--page-size', '500']);
    const report = JSON.parse(r.stdout) as AuditJson;
    assert.deepEqual(report.workloads.map((w) => `${w.kind}/${w.name}`), ['Deployment/cache', 'StatefulSet/db']);
    const lists = cluster.calls().slice(before).filter((c) => c.endsWith('/pods'));
    assert.ok(lists.length > 1 && lists.every((c) => c === 'GET /api/v1/namespaces/shop/pods'), lists.join());
  });

  it('--templates: drift against the registry serve would load (a newer memcached)', async () => {
    const r = await run(['audit', '--kubeconfig', kubeconfig, '--templates', templatesDir, '-o', 'json']);
    const report = JSON.parse(r.stdout) as AuditJson;
    assert.deepEqual(found(report, 'drifted'), { ...planted.drifted, ...planted.driftedWithTemplates });
    const sessions = report.workloads.find((w) => w.name === 'sessions');
    assert.match(sessions?.reasons[0]?.reason ?? '', /^template "memcached" changed since injection: 1\.0\.0 \S+ -> 9\.9\.9 \S+/);
    const broken = await mkdtemp(join(tmpdir(), 'ei-audit-broken-'));
    try {
      await writeFile(join(broken, 'bad.yaml'), 'name: Bad Name\n');
      const bad = await run(['audit', '--kubeconfig', kubeconfig, '--templates', broken]);
      assert.equal(bad.code, 3, 'an invalid templates directory is an input error');
      assert.match(bad.stderr, /bad\.yaml/);
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });

  it('--restart --dry-run says what it would do and patches nothing', async () => {
    const r = await run(['audit', '--kubeconfig', kubeconfig, '--restart', '--dry-run']);
    assert.equal(r.code, 1, 'nothing was restarted, so the findings remain');
    assert.equal(cluster.patches.length, 0);
    assert.ok(!cluster.calls().some((c) => c.startsWith('PATCH')));
    assert.match(r.stdout, /^would restart: deployment\/cache in shop: would have set kubectl\.kubernetes\.io\/restartedAt=\S+ on its pod template: the pods are replaced \(--dry-run: nothing sent\)$/m);
    assert.match(r.stdout, /^not restarted: pod\/debug in tools: a bare pod/m);
  });

  it('--restart patches exactly the affected workloads, as kubectl rollout restart does, and never a bare pod', async () => {
    const started = Date.now();
    const r = await run(['audit', '--kubeconfig', kubeconfig, '--restart', '-o', 'json']);
    assert.equal(r.code, 1, 'the bare pod still lacks its exporter');
    assert.deepEqual(cluster.patches.map((p) => p.path).sort(), planted.restartPaths);
    for (const p of cluster.patches) {
      assert.equal(p.contentType, 'application/strategic-merge-patch+json');
      const template = p.path.includes('/cronjobs/') ? p.body.spec.jobTemplate.spec.template : p.body.spec.template;
      const at = template.metadata.annotations['kubectl.kubernetes.io/restartedAt'] as string;
      assert.match(at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'RFC 3339');
      assert.ok(Date.parse(at) >= Math.floor(started / 1000) * 1000);
    }
    assert.ok(!cluster.calls().some((c) => c.startsWith('PATCH /api/v1/')), 'no pod is patched');
    const cachePatch = cluster.patches.find((p) => p.path.endsWith('/deployments/cache'));
    const stored = cluster.get('Deployment', 'shop', 'cache')?.spec.template.metadata.annotations;
    assert.equal(stored?.['kubectl.kubernetes.io/restartedAt'], cachePatch?.body.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'], 'the patch landed on the pod template');
    const report = JSON.parse(r.stdout) as AuditJson;
    assert.deepEqual(report.restarts?.map((x) => `${x.action} ${x.kind}/${x.name}`).sort(), [
      'not-restarted DaemonSet/node-agent',
      'not-restarted Pod/debug',
      'not-restarted StatefulSet/db',
      'restarted CronJob/nightly',
      'restarted Deployment/cache',
      'restarted Deployment/front',
    ]);
    assert.match(report.restarts?.find((x) => x.name === 'db')?.message ?? '', /^new pods would miss injection too; fix the cause first: policy optional: .*redis\.bogus/);
  });

  it('exits 0 with "no findings" on a cluster where every opted-in pod is injected from the current templates', async () => {
    const clean = await ClusterStandIn.start();
    try {
      clean.api.seedMwc(buildWebhookConfiguration() as never);
      clean.addNamespace('shop');
      const pod = injected(registry, 'redis');
      clean.addPods([{ ...pod, metadata: { ...pod.metadata, name: 'cache-0', namespace: 'shop' }, status: { phase: 'Running' } }]);
      const r = await run(['audit', '--kubeconfig', clean.kubeconfigPath]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.stdout, 'no findings: every opted-in pod is injected from the current templates; scanned 1 pods in all namespaces (1 page)\n');
    } finally {
      await clean.stop();
    }
  });

  it('refuses bad flags before touching the cluster', async () => {
    for (const [argv, message] of [
      [['--dry-run'], /--dry-run goes with --restart/],
      [['--page-size', '0'], /--page-size "0" is invalid; valid: a whole number from 1 to 5000/],
      [['-o', 'wide'], /-o "wide" is invalid; valid: table, json, yaml/],
      [['-n', 'Shop'], /-n "Shop" is invalid/],
    ] as const) {
      const r = await run(['audit', ...argv]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });
});

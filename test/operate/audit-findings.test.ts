// The pure rules of audit: which pods are findings, why, whether a restart helps, and how they group.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DEFAULT_CORE_SETTINGS } from '../../src/core/defaults.js';
import type { Pod, Registry } from '../../src/core/types.js';
import { analyzePod, groupByWorkload, selects, type AdmissionSetup, type PodFinding } from '../../src/kube/audit-findings.js';
import { buildWebhookConfiguration } from '../../src/kube/webhook-config.js';
import { loadRegistry } from '../../src/registry/load.js';
import { injected, olderStatus } from './population.js';

const CONFIGURED = new Date('2026-01-01T00:00:00Z');

function optedIn(extra: { annotations?: Record<string, string>; labels?: Record<string, string>; namespace?: string; created?: string; phase?: string } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'cache-0',
      namespace: extra.namespace ?? 'shop',
      creationTimestamp: new Date(extra.created ?? '2026-06-01T00:00:00Z'),
      labels: extra.labels ?? {},
      annotations: { 'exporter-injector.io/inject': 'redis', ...extra.annotations },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'cache', uid: 'u', controller: true }],
    },
    spec: { containers: [{ name: 'redis', image: 'redis:7.4' }] },
    status: { phase: extra.phase ?? 'Running' },
  };
}

describe('audit findings', () => {
  let registry: Registry;
  let setup: AdmissionSetup;

  before(async () => {
    registry = await loadRegistry();
    setup = {
      configuration: { name: 'exporter-injector', createdAt: CONFIGURED, webhooks: buildWebhookConfiguration().webhooks ?? [] },
      namespaceLabels: new Map([['shop', { 'kubernetes.io/metadata.name': 'shop' }]]),
      registry,
      settings: DEFAULT_CORE_SETTINGS,
    };
  });

  it('is silent for pods that did not opt in, finished, or were injected from the current templates', () => {
    const plain: Pod = { metadata: { name: 'web', namespace: 'shop' }, spec: { containers: [] } };
    assert.equal(analyzePod(plain, setup), undefined);
    assert.equal(analyzePod(optedIn({ annotations: { 'exporter-injector.io/inject': 'false' } }), setup), undefined);
    assert.equal(analyzePod(optedIn({ phase: 'Succeeded' }), setup), undefined);
    assert.equal(analyzePod(optedIn({ annotations: injected(registry, 'redis').metadata.annotations }), setup), undefined);
  });

  it('reports drift with what changed (statusDrift), and a restart helps', () => {
    const status = olderStatus(injected(registry, 'redis').metadata.annotations['exporter-injector.io/status']);
    const f = analyzePod(optedIn({ annotations: { 'exporter-injector.io/status': status } }), setup);
    assert.equal(f?.kind, 'drifted');
    assert.match(f?.reasons[0] ?? '', /^template "redis" changed since injection: 0\.0\.1 /);
    assert.equal(f?.restartHelps, true);
    assert.deepEqual(f?.owner, { kind: 'StatefulSet', name: 'cache', apiVersion: 'apps/v1' });
  });

  const missing: [string, () => [Pod, AdmissionSetup], RegExp, boolean][] = [
    ['no configuration', () => [optedIn(), { ...setup, configuration: undefined }], /^no MutatingWebhookConfiguration exists/, false],
    ['an ignored namespace', () => [optedIn({ namespace: 'kube-system' }), setup], /^namespace kube-system is one the webhook never injects/, false],
    ['a namespace the namespaceSelector excludes', () => [optedIn({ namespace: 'exporter-injector' }), setup], /^namespace exporter-injector is excluded by the namespaceSelector/, false],
    [
      'the label gate',
      () => [optedIn(), { ...setup, configuration: { ...setup.configuration!, webhooks: buildWebhookConfiguration({ labelGate: true }).webhooks ?? [] } }],
      /^the pod lacks the label the webhook's objectSelector requires \(exporter-injector\.io\/enabled=true\): the label gate$/,
      false,
    ],
    ['created before the configuration', () => [optedIn({ created: '2025-12-31T23:59:59Z' }), setup], /^created 2025-12-31T23:59:59\.000Z, before mutatingwebhookconfiguration\/exporter-injector existed \(2026-01-01T00:00:00\.000Z\)$/, true],
    ['policy optional with a problem today', () => [optedIn({ annotations: { 'exporter-injector.io/policy': 'optional', 'exporter-injector.io/inject': 'no-such-template' } }), setup], /^policy optional: admitted without the exporter \(with a warning\) because: .*no-such-template/, false],
    ['policy optional without a problem today', () => [optedIn({ annotations: { 'exporter-injector.io/policy': 'optional' } }), setup], /^policy optional: a problem at creation .* the current templates find none$/, true],
    ['nothing visible', () => [optedIn(), setup], /^the webhook did not answer when the pod was created/, true],
  ];
  for (const [what, make, reason, restartHelps] of missing) {
    it(`missing injection: ${what}`, () => {
      const [pod, s] = make();
      const f = analyzePod(pod, s);
      assert.equal(f?.kind, 'missing');
      assert.match(f?.reasons.join(' | ') ?? '', reason);
      assert.equal(f?.restartHelps, restartHelps);
    });
  }

  it('a lasting cause wins over "created before": a restart would not help', () => {
    const f = analyzePod(optedIn({ namespace: 'exporter-injector', created: '2020-01-01T00:00:00Z' }), setup);
    assert.equal(f?.reasons.length, 2);
    assert.equal(f?.restartHelps, false);
  });

  it('selects() follows metav1.LabelSelector', () => {
    const labels = { app: 'cache', tier: 'db' };
    assert.equal(selects(undefined, labels), true);
    assert.equal(selects({}, labels), true);
    assert.equal(selects({ matchLabels: { app: 'cache' } }, labels), true);
    assert.equal(selects({ matchLabels: { app: 'web' } }, labels), false);
    assert.equal(selects({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['db', 'x'] }] }, labels), true);
    assert.equal(selects({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }, labels), false);
    assert.equal(selects({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels), true);
    assert.equal(selects({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels), false);
    assert.equal(selects({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels), true);
  });

  it('groups by workload with a count per distinct reason, sorted by namespace, kind, name', () => {
    const f = (pod: string, namespace: string, owner: string | undefined, reason: string): PodFinding => ({
      namespace,
      pod,
      kind: 'missing',
      templates: ['redis'],
      reasons: [reason],
      restartHelps: true,
      owner: owner ? { kind: 'Deployment', name: owner } : undefined,
    });
    const groups = groupByWorkload([f('b-1', 'web', 'b', 'x'), f('a-2', 'shop', 'a', 'y'), f('a-1', 'shop', 'a', 'x'), f('solo', 'shop', undefined, 'x')], (x) =>
      x.owner ? { kind: x.owner.kind, namespace: x.namespace, name: x.owner.name } : { kind: 'Pod', namespace: x.namespace, name: x.pod },
    );
    assert.deepEqual(
      groups.map((g) => [g.workload.kind, g.workload.namespace, g.workload.name, g.restartable, g.pods.map((p) => p.pod), g.reasons.map((r) => `${r.reason}:${r.pods}`)]),
      [
        ['Deployment', 'shop', 'a', true, ['a-1', 'a-2'], ['y:1', 'x:1']],
        ['Pod', 'shop', 'solo', false, ['solo'], ['x:1']],
        ['Deployment', 'web', 'b', true, ['b-1'], ['x:1']],
      ],
    );
  });
});

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { toYaml } from '../../src/cli/yaml-output.js';
import { isInjectorError } from '../../src/errors.js';
import { desiredAdmissionObjects, webhookShapeFor, type KubeVersion } from '../../src/kube/admission-objects.js';
import { finalStatePolicyName } from '../../src/kube/final-state-policy.js';
import { buildWebhookConfiguration, LABEL_GATE_KEY, POLICY_WEBHOOK_NAMES, WEBHOOK_NAME, type WebhookOptions } from '../../src/kube/webhook-config.js';
import { assertGolden, REFRESH } from '../helpers/golden.js';
import { schemaProblems } from '../helpers/k8s-schema.js';

const DIR = join(import.meta.dirname, '..', 'testdata', 'webhook');
const CA = readFileSync(join(DIR, 'ca.crt'), 'utf8');

/** Golden `<name>.yaml` in test/testdata/webhook: every object register writes for these options and version. */
const CASES: Record<string, { options: Partial<WebhookOptions>; version?: KubeVersion }> = {
  default: { options: { caBundle: CA } },
  'ignore-deny': { options: { failurePolicy: 'Ignore', validationAction: 'Deny' } },
  'label-gate-fail-timeout': { options: { labelGate: true, failurePolicy: 'Fail', timeoutSeconds: 10 } },
  'custom-names': { options: { name: 'ei-staging', service: 'ei', namespace: 'monitoring', path: '/inject', port: 8443, caBundle: CA } },
  'kube-1.29': { options: {}, version: { major: 1, minor: 29 } },
  'kube-1.27-legacy': { options: {}, version: { major: 1, minor: 27 } },
};

describe('desiredAdmissionObjects', () => {
  for (const [name, { options, version }] of Object.entries(CASES)) {
    it(`matches golden ${name}.yaml, and every object passes the Kubernetes schema with no unknown field`, () => {
      const { objects } = desiredAdmissionObjects(options, version);
      for (const o of objects) assert.deepEqual(schemaProblems(JSON.parse(JSON.stringify(o))), [], `${o.kind}/${o.metadata?.name}`);
      assertGolden(join(DIR, `${name}.yaml`), objects.map((o) => toYaml(o)).join('---\n'));
    });
  }

  it('leaves no golden file that no case owns', { skip: REFRESH ? 'refreshing' : false }, () => {
    const stale = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && !(f.slice(0, -5) in CASES));
    assert.deepEqual(stale, []);
  });

  it('picks the shape by version: matchConditions from 1.28, the policy from 1.30, the newest without a version', () => {
    const kinds = (v?: KubeVersion) => desiredAdmissionObjects({}, v).objects.map((o) => o.kind);
    assert.deepEqual(kinds(), ['MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    assert.deepEqual(kinds({ major: 1, minor: 30 }), kinds());
    assert.deepEqual(kinds({ major: 2, minor: 0 }), kinds());
    assert.deepEqual(kinds({ major: 1, minor: 29 }), ['MutatingWebhookConfiguration']);
    assert.equal(webhookShapeFor({ major: 1, minor: 28 }), 'match-conditions');
    assert.equal(webhookShapeFor({ major: 1, minor: 27 }), 'legacy');
    assert.equal(webhookShapeFor(undefined), 'match-conditions');
  });

  it('splits by pod policy: required -> Fail, optional -> Ignore; Ignore or Fail for all keeps both entries', () => {
    const policies = (o: Partial<WebhookOptions>) => Object.fromEntries((buildWebhookConfiguration(o).webhooks ?? []).map((w) => [w.name, w.failurePolicy]));
    assert.deepEqual(policies({}), { [POLICY_WEBHOOK_NAMES.required]: 'Fail', [POLICY_WEBHOOK_NAMES.optional]: 'Ignore' });
    assert.deepEqual(policies({ failurePolicy: 'Ignore' }), { [POLICY_WEBHOOK_NAMES.required]: 'Ignore', [POLICY_WEBHOOK_NAMES.optional]: 'Ignore' });
    assert.deepEqual(policies({ failurePolicy: 'Fail' }), { [POLICY_WEBHOOK_NAMES.required]: 'Fail', [POLICY_WEBHOOK_NAMES.optional]: 'Fail' });
  });

  it('legacy: one Ignore webhook without matchConditions, and a notice naming the label gate', () => {
    const legacy = desiredAdmissionObjects({}, { major: 1, minor: 27 });
    const hooks = legacy.webhookConfiguration.webhooks ?? [];
    assert.deepEqual(hooks.map((w) => [w.name, w.failurePolicy, w.matchConditions]), [[WEBHOOK_NAME, 'Ignore', undefined]]);
    assert.equal(legacy.notices.length, 2);
    assert.match(legacy.notices[0] ?? '', new RegExp(`Kubernetes 1\\.27 has no webhook matchConditions.*--label-gate.*${LABEL_GATE_KEY}`));
    assert.match(legacy.notices[1] ?? '', /no ValidatingAdmissionPolicy v1 .*final-state check is skipped.*exporter-injector audit/);
    const gated = desiredAdmissionObjects({ labelGate: true, failurePolicy: 'Fail' }, { major: 1, minor: 25 });
    assert.equal(gated.webhookConfiguration.webhooks?.[0]?.failurePolicy, 'Fail', 'an explicit Fail is kept');
    assert.match(gated.notices[0] ?? '', /narrowed by the label gate/);
    assert.deepEqual(desiredAdmissionObjects().notices, []);
  });

  it('names the policy and binding after the configuration, so two installs do not collide', () => {
    const a = desiredAdmissionObjects({ name: 'ei-a', namespace: 'team-a' });
    assert.equal(a.policy?.metadata?.name, finalStatePolicyName('ei-a'));
    assert.equal(a.binding?.spec?.policyName, a.policy?.metadata?.name);
    assert.notEqual(desiredAdmissionObjects({ name: 'ei-b' }).policy?.metadata?.name, a.policy?.metadata?.name);
    assert.match(a.policy?.spec?.validations?.[0]?.message ?? '', /exporter-injector\.team-a.*kubectl -n team-a get pods,endpoints.*exporter-injector audit/);
  });

  it('validationAction: Warn+Audit by default, Deny+Audit when chosen', () => {
    assert.deepEqual(desiredAdmissionObjects().binding?.spec?.validationActions, ['Warn', 'Audit']);
    assert.deepEqual(desiredAdmissionObjects({ validationAction: 'Deny' }).binding?.spec?.validationActions, ['Deny', 'Audit']);
  });

  it('puts the PEM, base64-encoded, in every webhook caBundle', () => {
    for (const hook of buildWebhookConfiguration({ caBundle: CA }).webhooks ?? []) {
      assert.equal(Buffer.from(hook.clientConfig.caBundle ?? '', 'base64').toString('utf8'), CA);
    }
    assert.equal(buildWebhookConfiguration().webhooks?.[0]?.clientConfig.caBundle, undefined);
  });

  it('excludes the system namespaces and its own namespace, in the webhooks and the policy alike', () => {
    const objects = desiredAdmissionObjects({ namespace: 'platform' });
    for (const hook of objects.webhookConfiguration.webhooks ?? []) {
      assert.deepEqual(hook.namespaceSelector?.matchExpressions?.[0]?.values, ['kube-system', 'kube-public', 'kube-node-lease', 'platform']);
    }
    assert.deepEqual(objects.policy?.spec?.matchConstraints?.namespaceSelector, objects.webhookConfiguration.webhooks?.[0]?.namespaceSelector);
  });

  it('rejects every invalid option at once, naming each', () => {
    assert.throws(
      () =>
        desiredAdmissionObjects({ timeoutSeconds: 31, failurePolicy: 'Never' as 'Fail', port: 0, path: 'mutate', namespace: 'Bad_NS', caBundle: 'not a pem', validationAction: 'Audit' as 'Warn' }),
      (e: unknown) => {
        assert.ok(isInjectorError(e, 'EI_ERR_CONFIG_INVALID'));
        assert.equal(e.details.length, 7);
        for (const word of ['timeoutSeconds 31', 'failurePolicy "Never"', 'port 0', `path "mutate"`, 'namespace "Bad_NS"', 'caBundle', 'validationAction "Audit"']) {
          assert.match(e.message, new RegExp(word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
        }
        return true;
      },
    );
  });

  it('accepts the API server limits for the timeout: 1 and 30', () => {
    assert.equal(buildWebhookConfiguration({ timeoutSeconds: 1 }).webhooks?.[0]?.timeoutSeconds, 1);
    assert.equal(buildWebhookConfiguration({ timeoutSeconds: 30 }).webhooks?.[0]?.timeoutSeconds, 30);
    assert.throws(() => buildWebhookConfiguration({ timeoutSeconds: 0 }), /timeoutSeconds 0/);
  });
});

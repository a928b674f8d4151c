// registerAdmission / unregisterAdmission against the API-server stand-in playing several Kubernetes versions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { isInjectorError } from '../../src/errors.js';
import { desiredAdmissionObjects } from '../../src/kube/admission-objects.js';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { registerAdmission, registerWebhook, unregisterAdmission } from '../../src/kube/register.js';
import { buildWebhookConfiguration, POLICY_WEBHOOK_NAMES, WEBHOOK_NAME } from '../../src/kube/webhook-config.js';
import { FakeApiServer } from './fake-apiserver.js';

const CA = readFileSync(join(import.meta.dirname, '..', 'testdata', 'webhook', 'ca.crt'), 'utf8');
const GROUP = '/apis/admissionregistration.k8s.io/v1';
const MWC = `${GROUP}/mutatingwebhookconfigurations/exporter-injector`;
const VAP = `${GROUP}/validatingadmissionpolicies/exporter-injector-final-state`;
const VAPB = `${GROUP}/validatingadmissionpolicybindings/exporter-injector-final-state`;
const V = (minor: number) => ({ major: 1, minor });

let fake: FakeApiServer | undefined;
async function server(minor: number, extra: { matchConditionsGateOff?: boolean } = {}): Promise<{ fake: FakeApiServer; kc: KubeConfig }> {
  fake = await FakeApiServer.start({ version: { major: '1', minor: String(minor), gitVersion: `v1.${minor}.3` }, ...extra });
  return { fake, kc: loadKubeConfig({ kubeconfig: fake.kubeconfigPath, env: {} }) as KubeConfig };
}
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

const summary = (r: Awaited<ReturnType<typeof registerAdmission>>) => r.results.map((x) => `${x.ref} ${x.action}`);

describe('registerAdmission', () => {
  it('1.30: creates the configuration, the policy and its binding; a second run reads them and writes nothing', async () => {
    const { fake, kc } = await server(30);
    const first = await registerAdmission(kc, { caBundle: CA }, V(30));
    assert.deepEqual(summary(first), [
      'mutatingwebhookconfiguration/exporter-injector created',
      'validatingadmissionpolicy/exporter-injector-final-state created',
      'validatingadmissionpolicybinding/exporter-injector-final-state created',
    ]);
    assert.deepEqual(first.notices, []);
    const desired = desiredAdmissionObjects({ caBundle: CA }, V(30));
    assert.deepEqual(fake.mwc('exporter-injector')?.webhooks.map((w: { matchConditions: unknown }) => w.matchConditions), desired.webhookConfiguration.webhooks?.map((w) => w.matchConditions));
    assert.deepEqual(fake.policy('exporter-injector-final-state')?.spec.validations, desired.policy?.spec?.validations);
    assert.deepEqual(fake.binding('exporter-injector-final-state')?.spec.validationActions, ['Warn', 'Audit']);

    fake.requests.length = 0;
    const second = await registerAdmission(kc, { caBundle: CA }, V(30));
    assert.ok(second.results.every((r) => r.action === 'unchanged' && r.changes.length === 0), JSON.stringify(second.results));
    assert.deepEqual(fake.calls(), [`GET ${MWC}`, `GET ${VAP}`, `GET ${VAPB}`], 'only reads: the stored objects, with server defaults, equal the desired ones');
  });

  it('updates what an option change touches, and only that', async () => {
    const { fake, kc } = await server(31);
    await registerAdmission(kc, { caBundle: CA }, V(31));
    fake.requests.length = 0;
    const r = await registerAdmission(kc, { caBundle: CA, validationAction: 'Deny', failurePolicy: 'Ignore' }, V(31));
    assert.deepEqual(summary(r), [
      'mutatingwebhookconfiguration/exporter-injector updated',
      'validatingadmissionpolicy/exporter-injector-final-state updated',
      'validatingadmissionpolicybinding/exporter-injector-final-state updated',
    ]);
    assert.deepEqual(r.results[0]?.changes, [`webhooks[${POLICY_WEBHOOK_NAMES.required}].failurePolicy: Fail -> Ignore`]);
    assert.match(r.results[2]?.changes[0] ?? '', /^spec: .*"Warn".* -> .*"Deny"/);
    assert.deepEqual(fake.binding('exporter-injector-final-state')?.spec.validationActions, ['Deny', 'Audit']);
    assert.deepEqual(fake.calls().filter((c) => c.startsWith('PUT')), [`PUT ${MWC}`, `PUT ${VAP}`, `PUT ${VAPB}`]);
  });

  it('keeps labels and annotations others put on the policy, and updates it in place', async () => {
    const { fake, kc } = await server(30);
    await registerAdmission(kc, {}, V(30));
    fake.touchPolicy('exporter-injector-final-state', (o) => {
      o.metadata.labels.team = 'platform';
      o.metadata.annotations = { 'example.com/owner': 'sre' };
    });
    const before = fake.policy('exporter-injector-final-state');
    const unchanged = await registerAdmission(kc, {}, V(30));
    assert.equal(unchanged.results[1]?.action, 'unchanged', 'a foreign label is not a change');
    await registerAdmission(kc, { validationAction: 'Deny' }, V(30));
    const after = fake.policy('exporter-injector-final-state');
    assert.equal(after?.metadata.uid, before?.metadata.uid, 'replaced, not recreated');
    assert.equal(after?.metadata.labels.team, 'platform');
    assert.deepEqual(after?.metadata.annotations, { 'example.com/owner': 'sre' });
    assert.equal(after?.spec.failurePolicy, 'Fail', 'Deny: a pod that cannot be checked is refused');
  });

  it('1.29: the configuration with matchConditions, no policy, and a notice saying so', async () => {
    const { fake, kc } = await server(29);
    const r = await registerAdmission(kc, {}, V(29));
    assert.deepEqual(summary(r), ['mutatingwebhookconfiguration/exporter-injector created']);
    assert.equal(r.notices.length, 1);
    assert.match(r.notices[0] ?? '', /Kubernetes 1\.29 has no ValidatingAdmissionPolicy v1/);
    assert.equal(fake.mwc('exporter-injector')?.webhooks.length, 2);
    assert.ok(!fake.calls().some((c) => c.includes('validatingadmission')), 'no call for a resource the version does not have');
  });

  it('1.27: the legacy shape (one Ignore webhook) and a warning naming the label gate', async () => {
    const { fake, kc } = await server(27);
    const r = await registerAdmission(kc, {}, V(27));
    assert.equal(r.written.shape, 'legacy');
    const stored = fake.mwc('exporter-injector');
    assert.deepEqual(stored?.webhooks.map((w: { name: string; failurePolicy: string }) => [w.name, w.failurePolicy]), [[WEBHOOK_NAME, 'Ignore']]);
    assert.match(r.notices[0] ?? '', /Kubernetes 1\.27 has no webhook matchConditions.*--label-gate/);
  });

  it('a 1.27 server silently drops matchConditions it is sent (as a real one prunes an unknown field)', async () => {
    const { fake, kc } = await server(27);
    const result = await registerWebhook(kc, buildWebhookConfiguration());
    assert.equal(result.action, 'created');
    assert.equal(fake.requests.find((r) => r.method === 'POST')?.body.webhooks[0].matchConditions.length, 3, 'they were sent');
    assert.ok(fake.mwc('exporter-injector')?.webhooks.every((w: object) => !('matchConditions' in w)), 'and not stored');
  });

  it('1.28 with the matchConditions gate off: notices the dropped conditions and writes the legacy shape instead of Fail-for-every-pod', async () => {
    const { fake, kc } = await server(28, { matchConditionsGateOff: true });
    const r = await registerAdmission(kc, {}, V(28));
    assert.equal(r.written.shape, 'legacy');
    assert.deepEqual(fake.mwc('exporter-injector')?.webhooks.map((w: { name: string; failurePolicy: string }) => [w.name, w.failurePolicy]), [[WEBHOOK_NAME, 'Ignore']]);
    assert.ok(r.notices.some((n) => /stores the webhooks without their matchConditions .*AdmissionWebhookMatchConditions/.test(n)), r.notices.join('\n'));
    assert.equal(summary(r)[0], 'mutatingwebhookconfiguration/exporter-injector created');
  });

  it('after a cluster upgrade from 1.27 to 1.30, register replaces the legacy webhook and adds the policy', async () => {
    const { fake, kc } = await server(27);
    await registerAdmission(kc, {}, V(27));
    fake.version = { major: '1', minor: '30', gitVersion: 'v1.30.0' };
    const r = await registerAdmission(kc, {}, V(30));
    assert.deepEqual(r.results[0]?.changes, [`webhooks[${WEBHOOK_NAME}]: removed`, `webhooks[${POLICY_WEBHOOK_NAMES.required}]: added`, `webhooks[${POLICY_WEBHOOK_NAMES.optional}]: added`]);
    assert.deepEqual(summary(r).slice(1), ['validatingadmissionpolicy/exporter-injector-final-state created', 'validatingadmissionpolicybinding/exporter-injector-final-state created']);
  });

  it('the stand-in refuses a CEL syntax error with 422 Invalid, as the API server compiles expressions on write', async () => {
    const { kc } = await server(30);
    const broken = buildWebhookConfiguration();
    const hook = broken.webhooks?.[0];
    if (hook?.matchConditions?.[0]) hook.matchConditions[0].expression = "has(object.metadata.annotations) &&";
    await assert.rejects(registerWebhook(kc, broken), (e: unknown) => {
      assert.ok(isInjectorError(e, 'EI_ERR_KUBE_API'));
      assert.match(e.message, /HTTP 422: .*matchConditions\[0\]\.expression: Invalid value: .*compilation failed/);
      return true;
    });
  });
});

describe('unregisterAdmission', () => {
  it('deletes the binding, the policy and the configuration; a second run finds nothing and succeeds', async () => {
    const { fake, kc } = await server(30);
    await registerAdmission(kc, {}, V(30));
    fake.requests.length = 0;
    const first = await unregisterAdmission(kc, 'exporter-injector');
    assert.deepEqual(first.map((r) => `${r.ref} ${r.action}`), [
      'mutatingwebhookconfiguration/exporter-injector deleted',
      'validatingadmissionpolicy/exporter-injector-final-state deleted',
      'validatingadmissionpolicybinding/exporter-injector-final-state deleted',
    ]);
    assert.deepEqual(fake.calls(), [`DELETE ${VAPB}`, `DELETE ${VAP}`, `DELETE ${MWC}`], 'the binding goes before the policy it names');
    assert.equal(fake.mwc('exporter-injector'), undefined);
    assert.equal(fake.policy('exporter-injector-final-state'), undefined);
    const second = await unregisterAdmission(kc, 'exporter-injector');
    assert.ok(second.every((r) => r.action === 'absent'));
  });

  it('on a cluster without the policy API (1.27) reports the policy objects absent', async () => {
    const { kc } = await server(27);
    await registerAdmission(kc, {}, V(27));
    const r = await unregisterAdmission(kc, 'exporter-injector');
    assert.deepEqual(r.map((x) => x.action), ['deleted', 'absent', 'absent']);
  });
});

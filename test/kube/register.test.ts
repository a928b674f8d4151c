import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { isInjectorError } from '../../src/errors.js';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { mergeWebhookConfiguration, registerWebhook, unregisterWebhook } from '../../src/kube/register.js';
import { buildWebhookConfiguration, POLICY_WEBHOOK_NAMES, WEBHOOK_NAME } from '../../src/kube/webhook-config.js';

const REQUIRED = POLICY_WEBHOOK_NAMES.required;
const OPTIONAL = POLICY_WEBHOOK_NAMES.optional;
import { FakeApiServer, status } from './fake-apiserver.js';

const CA = readFileSync(join(import.meta.dirname, '..', 'testdata', 'webhook', 'ca.crt'), 'utf8');
const NAME = 'exporter-injector';
const ITEM = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${NAME}`;
const COLLECTION = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

/** A webhook someone else put into the same object; register must leave it alone. */
const FOREIGN_WEBHOOK = {
  name: 'audit.example.com',
  clientConfig: { url: 'https://audit.example.com/hook' },
  rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['deployments'] }],
  sideEffects: 'None',
  admissionReviewVersions: ['v1'],
};

describe('registerWebhook / unregisterWebhook against the API server stand-in', () => {
  let fake: FakeApiServer;
  let kc: KubeConfig;

  before(async () => {
    fake = await FakeApiServer.start({ token: 'test-token' });
    kc = loadKubeConfig({ kubeconfig: fake.kubeconfigPath, env: {} }) as KubeConfig;
  });
  after(async () => fake.stop());
  beforeEach(() => {
    fake.requests.length = 0;
    fake.hooks.length = 0;
  });
  afterEach(async () => {
    fake.hooks.length = 0;
    await unregisterWebhook(kc, NAME);
  });

  it('creates a missing object with one GET (404) and one POST carrying the built object', async () => {
    const desired = buildWebhookConfiguration({ caBundle: CA });
    const result = await registerWebhook(kc, desired);
    assert.equal(result.action, 'created');
    assert.deepEqual(fake.calls(), [`GET ${ITEM}`, `POST ${COLLECTION}`]);
    const post = fake.requests[1];
    assert.deepEqual(post?.body, JSON.parse(JSON.stringify(desired)));
    assert.equal(post?.query.get('fieldManager'), 'exporter-injector');
    assert.equal(post?.authorization, 'Bearer test-token', 'the kubeconfig token is sent');
    assert.equal(fake.mwc(NAME)?.webhooks[0].clientConfig.caBundle, Buffer.from(CA).toString('base64'));
  });

  it('reports unchanged and writes nothing when the stored object (with server defaults) already matches', async () => {
    await registerWebhook(kc, buildWebhookConfiguration({ caBundle: CA }));
    fake.requests.length = 0;
    const { stored, ...result } = await registerWebhook(kc, buildWebhookConfiguration({ caBundle: CA }));
    assert.deepEqual(result, { action: 'unchanged', name: NAME, changes: [] });
    assert.equal(stored.metadata?.name, NAME);
    assert.deepEqual(fake.calls(), [`GET ${ITEM}`]);
  });

  it('updates only our fields: keeps annotations, foreign labels and other webhooks; replaces the legacy webhook by the two policy webhooks', async () => {
    const old = buildWebhookConfiguration({ caBundle: CA, timeoutSeconds: 20 }, 'legacy');
    const seeded = fake.seedMwc({
      ...old,
      metadata: { ...old.metadata, labels: { ...old.metadata?.labels, team: 'platform' }, annotations: { 'example.com/owner': 'sre' } },
      webhooks: [FOREIGN_WEBHOOK, ...(old.webhooks ?? [])],
    });
    const result = await registerWebhook(kc, buildWebhookConfiguration({ caBundle: CA }));

    assert.equal(result.action, 'updated');
    assert.deepEqual(result.changes, [`webhooks[${WEBHOOK_NAME}]: removed`, `webhooks[${REQUIRED}]: added`, `webhooks[${OPTIONAL}]: added`]);
    assert.deepEqual(fake.calls(), [`GET ${ITEM}`, `PUT ${ITEM}`]);
    const put = fake.requests[1]?.body;
    assert.equal(put.metadata.resourceVersion, seeded.metadata.resourceVersion, 'replace is conditional on the version read');
    const stored = fake.mwc(NAME);
    assert.deepEqual(stored?.metadata.annotations, { 'example.com/owner': 'sre' });
    assert.equal(stored?.metadata.labels.team, 'platform');
    assert.equal(stored?.metadata.uid, seeded.metadata.uid);
    assert.deepEqual(stored?.webhooks.map((w: { name: string }) => w.name), ['audit.example.com', REQUIRED, OPTIONAL]);
    assert.equal(stored?.webhooks[0].clientConfig.url, FOREIGN_WEBHOOK.clientConfig.url);
    assert.equal(stored?.webhooks[1].matchConditions.length, 3);
    assert.deepEqual(stored?.webhooks.slice(1).map((w: { failurePolicy: string }) => w.failurePolicy), ['Fail', 'Ignore']);
  });

  it('puts back matchConditions and fields someone edited by hand, naming each change', async () => {
    const desired = buildWebhookConfiguration({ caBundle: CA });
    const edited = structuredClone(desired);
    const hook = edited.webhooks?.[0] as NonNullable<typeof edited.webhooks>[number];
    hook.matchConditions = [{ name: 'not-system', expression: "!request.userInfo.username.startsWith('system:')" }];
    hook.timeoutSeconds = 20;
    fake.seedMwc(edited);
    const result = await registerWebhook(kc, desired);
    assert.equal(result.action, 'updated');
    assert.equal(result.changes.length, 2);
    assert.match(result.changes[0] ?? '', new RegExp(`^webhooks\\[${REQUIRED.replace(/\./g, '\\.')}\\]\\.matchConditions: \\[.*"not-system".*\\] -> \\[\\{"name":"opted-in"`));
    assert.equal(result.changes[1], `webhooks[${REQUIRED}].timeoutSeconds: 20 -> 5`);
    assert.deepEqual(fake.mwc(NAME)?.webhooks[0].matchConditions, JSON.parse(JSON.stringify(desired.webhooks?.[0]?.matchConditions)));
  });

  it('re-reads and retries when another writer updates the object between our read and our write (409)', async () => {
    fake.seedMwc(buildWebhookConfiguration({ caBundle: CA }));
    let fired = false;
    fake.hooks.push((req, server) => {
      if (req.method === 'PUT' && !fired) {
        fired = true;
        // Commits before our PUT is handled, so our resourceVersion is now stale.
        server.touchMwc(NAME, (o) => (o.metadata.labels = { ...o.metadata.labels, 'other-writer': 'was-here' }));
      }
      return undefined;
    });
    const result = await registerWebhook(kc, buildWebhookConfiguration({ caBundle: CA, failurePolicy: 'Fail' }));
    assert.equal(result.action, 'updated');
    assert.deepEqual(fake.calls(), [`GET ${ITEM}`, `PUT ${ITEM}`, `GET ${ITEM}`, `PUT ${ITEM}`]);
    const stored = fake.mwc(NAME);
    assert.equal(stored?.metadata.labels['other-writer'], 'was-here', "the other writer's change survives");
    assert.equal(stored?.webhooks[1].failurePolicy, 'Fail', 'optional webhook set to Fail');
    assert.notEqual(fake.requests[1]?.body.metadata.resourceVersion, fake.requests[3]?.body.metadata.resourceVersion);
  });

  it('gives up after a bounded number of conflicts with EI_ERR_KUBE_API naming HTTP 409', async () => {
    fake.seedMwc(buildWebhookConfiguration({ caBundle: CA }));
    fake.hooks.push((req, server) => {
      if (req.method === 'PUT') server.touchMwc(NAME, () => undefined);
      return undefined;
    });
    await assert.rejects(registerWebhook(kc, buildWebhookConfiguration({ caBundle: CA, timeoutSeconds: 9 }), { maxAttempts: 3 }), (e: unknown) => {
      assert.ok(isInjectorError(e, 'EI_ERR_KUBE_API'));
      assert.match(e.message, /HTTP 409/);
      assert.match(e.message, /3 attempts/);
      return true;
    });
    assert.equal(fake.calls().filter((c) => c.startsWith('PUT')).length, 3);
  });

  it('updates instead when the object appears between our read (404) and our create (409 AlreadyExists)', async () => {
    let fired = false;
    fake.hooks.push((req, server) => {
      if (req.method === 'POST' && !fired) {
        fired = true;
        server.seedMwc(buildWebhookConfiguration({ timeoutSeconds: 7 }));
      }
      return undefined;
    });
    const result = await registerWebhook(kc, buildWebhookConfiguration({ caBundle: CA }));
    assert.equal(result.action, 'updated');
    assert.deepEqual(fake.calls(), [`GET ${ITEM}`, `POST ${COLLECTION}`, `GET ${ITEM}`, `PUT ${ITEM}`]);
    assert.equal(fake.mwc(NAME)?.webhooks[0].timeoutSeconds, 5);
  });

  it('turning the label gate off removes the objectSelector', async () => {
    await registerWebhook(kc, buildWebhookConfiguration({ caBundle: CA, labelGate: true }));
    const result = await registerWebhook(kc, buildWebhookConfiguration({ caBundle: CA }));
    assert.deepEqual(
      result.changes,
      [REQUIRED, OPTIONAL].map((n) => `webhooks[${n}].objectSelector: {"matchLabels":{"exporter-injector.io/enabled":"true"}} -> (unset)`),
    );
    assert.deepEqual(fake.mwc(NAME)?.webhooks[0].objectSelector, {}, 'the server defaulted it to match everything');
  });

  it('reports a refused call as EI_ERR_KUBE_API with the HTTP status and the server\'s message', async () => {
    fake.hooks.push(() => ({
      status: 403,
      body: status(403, 'Forbidden', `mutatingwebhookconfigurations.admissionregistration.k8s.io "${NAME}" is forbidden: User "system:serviceaccount:default:x" cannot get resource "mutatingwebhookconfigurations"`),
    }));
    await assert.rejects(registerWebhook(kc, buildWebhookConfiguration({ caBundle: CA })), (e: unknown) => {
      assert.ok(isInjectorError(e, 'EI_ERR_KUBE_API'));
      assert.match(e.message, /^cannot read mutatingwebhookconfigurations\/exporter-injector at http:\/\/127\.0\.0\.1:\d+: HTTP 403: .*cannot get resource/);
      return true;
    });
  });

  it('unregister deletes, then reports an absent object as absent (404 is not an error)', async () => {
    await registerWebhook(kc, buildWebhookConfiguration({ caBundle: CA }));
    fake.requests.length = 0;
    assert.deepEqual(await unregisterWebhook(kc, NAME), { action: 'deleted', name: NAME });
    assert.deepEqual(await unregisterWebhook(kc, NAME), { action: 'absent', name: NAME });
    assert.deepEqual(fake.calls(), [`DELETE ${ITEM}`, `DELETE ${ITEM}`]);
    assert.equal(fake.mwc(NAME), undefined);
  });
});

describe('mergeWebhookConfiguration', () => {
  it('adds our webhooks to an object that lacks them, after the others', () => {
    const existing = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: NAME }, webhooks: [FOREIGN_WEBHOOK] };
    const { merged, changes } = mergeWebhookConfiguration(existing, buildWebhookConfiguration());
    assert.deepEqual(merged.webhooks?.map((w) => w.name), ['audit.example.com', REQUIRED, OPTIONAL]);
    assert.deepEqual(changes, ['metadata.labels.app.kubernetes.io/name: (unset) -> exporter-injector', `webhooks[${REQUIRED}]: added`, `webhooks[${OPTIONAL}]: added`]);
  });

  it('going back to the legacy shape removes the two policy webhooks and their matchConditions', () => {
    const { merged, changes } = mergeWebhookConfiguration(buildWebhookConfiguration(), buildWebhookConfiguration({}, 'legacy'));
    assert.deepEqual(merged.webhooks?.map((w) => [w.name, w.matchConditions]), [[WEBHOOK_NAME, undefined]]);
    assert.deepEqual(changes, [`webhooks[${REQUIRED}]: removed`, `webhooks[${OPTIONAL}]: removed`, `webhooks[${WEBHOOK_NAME}]: added`]);
  });

  it('keeps an existing caBundle when none is given (cert-manager injects it) and reports a new one', () => {
    const existing = buildWebhookConfiguration({ caBundle: CA });
    assert.deepEqual(mergeWebhookConfiguration(existing, buildWebhookConfiguration()).changes, []);
    assert.equal(mergeWebhookConfiguration(existing, buildWebhookConfiguration()).merged.webhooks?.[0]?.clientConfig.caBundle, existing.webhooks?.[0]?.clientConfig.caBundle);
    const other = CA.replace('MIID', 'MIIE');
    assert.deepEqual(
      mergeWebhookConfiguration(existing, buildWebhookConfiguration({ caBundle: other })).changes,
      [REQUIRED, OPTIONAL].map((n) => `webhooks[${n}].clientConfig.caBundle: replaced`),
    );
  });

  it('does not modify its input', () => {
    const existing = buildWebhookConfiguration({ timeoutSeconds: 20 });
    const copy = structuredClone(existing);
    mergeWebhookConfiguration(existing, buildWebhookConfiguration({ labelGate: true }));
    assert.deepEqual(existing, copy);
  });
});

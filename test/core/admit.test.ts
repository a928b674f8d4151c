// The answers the API server gets from admit(), whatever the entry point.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { admit } from '../../src/core/admit.js';
import { DEFAULT_CORE_SETTINGS } from '../../src/core/defaults.js';
import { podShapeProblems, syntheticReview } from '../../src/core/review.js';
import type { Pod, Registry } from '../../src/core/types.js';
import { isInjectorError } from '../../src/errors.js';
import { loadRegistry } from '../../src/registry/load.js';

let registry: Registry;
before(async () => {
  registry = await loadRegistry();
});

const pod = (annotations?: Record<string, string>): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'cache', namespace: 'shop', ...(annotations ? { annotations } : {}) },
  spec: { containers: [{ name: 'redis', image: 'redis:7.2' }] },
});

const review = (request: Record<string, unknown>) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
const podRequest = (p: unknown, extra: Record<string, unknown> = {}) => ({
  uid: 'c0ffee-1',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  resource: { group: '', version: 'v1', resource: 'pods' },
  namespace: 'shop',
  operation: 'CREATE',
  object: p,
  ...extra,
});

function decodePatch(base64: string | undefined): Operation[] {
  assert.ok(base64, 'a patch');
  return JSON.parse(Buffer.from(base64, 'base64').toString('utf8')) as Operation[];
}

describe('admit', () => {
  it('injects an opted-in pod with a base64 JSONPatch that applies to the pod as sent', () => {
    const original = pod({ 'exporter-injector.io/inject': 'redis' });
    const { review: answer, outcome } = admit(review(podRequest(original)), registry, DEFAULT_CORE_SETTINGS);
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1');
    assert.equal(answer.kind, 'AdmissionReview');
    assert.equal(answer.response.uid, 'c0ffee-1');
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patchType, 'JSONPatch');
    const patched = jsonPatch.applyPatch(structuredClone(original), decodePatch(answer.response.patch), true, false).newDocument;
    assert.equal(patched.spec?.initContainers?.[0]?.name, 'redis-exporter');
    assert.equal(patched.spec?.initContainers?.[0]?.restartPolicy, 'Always');
    assert.equal(patched.metadata?.labels?.['exporter-injector.io/injected'], 'true');
    assert.equal(patched.metadata?.annotations?.['prometheus.io/port'], '9121');
    assert.deepEqual(original.spec?.containers, patched.spec?.containers, 'the app container is untouched');
    assert.equal(outcome.decision, 'injected');
    assert.deepEqual(outcome.templates, ['redis']);
  });

  it('answers the same to a dryRun request', () => {
    const body = podRequest(pod({ 'exporter-injector.io/inject': 'redis' }));
    const normal = admit(review(body), registry, DEFAULT_CORE_SETTINGS).review;
    const dry = admit(review({ ...body, dryRun: true }), registry, DEFAULT_CORE_SETTINGS).review;
    assert.deepEqual(dry, normal);
  });

  for (const [name, request, reason] of [
    ['a Deployment', { ...podRequest({}), kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }, 'not-a-pod'],
    ['an UPDATE', podRequest(pod({ 'exporter-injector.io/inject': 'redis' }), { operation: 'UPDATE' }), 'not-create'],
    ['a subresource', podRequest(pod({ 'exporter-injector.io/inject': 'redis' }), { subResource: 'ephemeralcontainers' }), 'subresource'],
    ['a pod without annotations', podRequest(pod()), 'not-opted-in'],
  ] as const) {
    it(`allows ${name} without a patch (${reason})`, () => {
      const { review: answer, outcome } = admit(review(request), registry, DEFAULT_CORE_SETTINGS);
      assert.deepEqual(answer.response, { uid: 'c0ffee-1', allowed: true });
      assert.equal(outcome.reason, reason);
    });
  }

  it('denies with status 403 and a message naming the annotation and what is valid', () => {
    const { review: answer } = admit(review(podRequest(pod({ 'exporter-injector.io/inject': 'redis', 'exporter-injector.io/redis.port': '70000' }))), registry, DEFAULT_CORE_SETTINGS);
    assert.equal(answer.response.allowed, false);
    assert.equal(answer.response.status?.code, 403);
    assert.match(answer.response.status?.message ?? '', /exporter-injector\.io\/redis\.port: invalid value "70000"; valid: a port number from 1 to 65535/);
    assert.equal(answer.response.patch, undefined);
  });

  it('admits unchanged with warnings under policy optional', () => {
    const { review: answer } = admit(
      review(podRequest(pod({ 'exporter-injector.io/inject': 'redis', 'exporter-injector.io/policy': 'optional', 'exporter-injector.io/redis.port': '0' }))),
      registry,
      DEFAULT_CORE_SETTINGS,
    );
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patch, undefined);
    assert.match(answer.response.warnings?.[0] ?? '', /redis\.port/);
  });

  it('a bare pod wrapped by the CLI gets the same patch as the server request', () => {
    const p = pod({ 'exporter-injector.io/inject': 'redis' });
    const viaServer = admit(review(podRequest(p)), registry, DEFAULT_CORE_SETTINGS).patch;
    const viaCli = admit(syntheticReview(p, 'shop'), registry, DEFAULT_CORE_SETTINGS).patch;
    assert.deepEqual(viaCli, viaServer);
  });

  for (const [name, body, code, pattern] of [
    ['a non-object body', '[]', 'EI_ERR_REVIEW_INVALID', /JSON object/],
    ['v1beta1', { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: podRequest(pod()) }, 'EI_ERR_REVIEW_INVALID', /admission\.k8s\.io\/v1 AdmissionReview/],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 'EI_ERR_REVIEW_INVALID', /request is missing/],
    ['no uid', review({ ...podRequest(pod()), uid: undefined }), 'EI_ERR_REVIEW_INVALID', /request\.uid/],
    ['no kind', review({ ...podRequest(pod()), kind: 'Pod' }), 'EI_ERR_REVIEW_INVALID', /request\.kind/],
    ['no object', review({ ...podRequest(pod()), object: undefined }), 'EI_ERR_REVIEW_OBJECT', /request\.object is missing/],
    ['a Service as the object', review(podRequest({ kind: 'Service', spec: {} })), 'EI_ERR_REVIEW_OBJECT', /"Service"/],
    ['a pod without containers', review(podRequest({ kind: 'Pod', spec: {} })), 'EI_ERR_REVIEW_OBJECT', /spec\.containers/],
    ['non-string annotations', review(podRequest({ ...pod(), metadata: { annotations: { a: 1 } } })), 'EI_ERR_REVIEW_OBJECT', /annotations/],
  ] as const) {
    it(`rejects ${name} with ${code}`, () => {
      assert.throws(
        () => admit(body, registry, DEFAULT_CORE_SETTINGS),
        (e: unknown) => isInjectorError(e, code) && pattern.test(e.message),
      );
    });
  }
});

describe('podShapeProblems', () => {
  it('names each field that is not what the core reads once, where it is', () => {
    assert.deepEqual(podShapeProblems({ spec: {} }), ['spec.containers must be a list of containers']);
    // Once: it used to be reported both as missing and as not a list.
    assert.deepEqual(podShapeProblems({ spec: { containers: 'app' } }), ['spec.containers must be a list of containers']);
    assert.deepEqual(
      podShapeProblems({ spec: { initContainers: [{ name: 7 }], containers: [{ name: 'app', ports: 3 }, null, { image: ['x'], ports: [{}, 'p'] }], volumes: [1] } }),
      [
        'spec.initContainers[0].name must be a string',
        'spec.containers[1] must be a map (a container)',
        'spec.containers[0].ports must be a list of ports',
        'spec.containers[2].image must be a string',
        'spec.containers[2].ports[1] must be a map (a port)',
        'spec.volumes[0] must be a map (a volume)',
      ],
    );
    assert.deepEqual(podShapeProblems({ spec: { containers: [{ name: 'app', ports: null }], volumes: null } }), []);
  });
});

// The webhook over real TLS and real sockets, called by the API-server stand-in: injection,
// reinvocation, skips, denials, every kind of bad input (each followed by a request that must
// succeed), and the health port.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { RunningWebhook } from '../../src/server/runtime.js';
import { ApiServerStandIn, podReview } from '../helpers/api-server-standin.js';
import { healthGet, oldTlsOutcome, optedInPod, plainPod, sample, servingCertDir, startTestWebhook, testPki, type TestPki } from './fixtures.js';

describe('webhook over TLS, called like the API server calls it', () => {
  let pki: TestPki;
  let dir: string;
  let webhook: RunningWebhook;
  let apiServer: ApiServerStandIn;
  let notAfter: Date;

  before(async () => {
    pki = testPki();
    ({ dir } = await servingCertDir('webhook', pki, { 'ca.crt': pki.ca.cert }));
    ({ webhook } = await startTestWebhook(dir));
    notAfter = webhook.certificate.pair.notAfter;
    // One socket, so a bad request and the good one after it share a connection where it stays open.
    apiServer = new ApiServerStandIn({ port: webhook.httpsPort, caCert: pki.ca.cert, maxSockets: 1 });
  });
  after(async () => {
    apiServer.close();
    await webhook.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  /** The request after every bad one: an opted-in pod, injected and not patched a second time. */
  const goodRequestSucceeds = async (): Promise<void> => {
    const { first } = await apiServer.reviewTwice(optedInPod());
    assert.equal(first.allowed, true);
    assert.ok(first.patch && first.patch.length > 0, 'the good request is injected');
  };

  it('injects an opted-in pod, and a second pass over the result changes nothing', async () => {
    const { first } = await apiServer.reviewTwice(optedInPod());
    const spec = first.pod.spec as { initContainers?: { name: string; restartPolicy?: string }[] };
    assert.equal(spec.initContainers?.[0]?.name, 'redis-exporter');
    assert.equal(spec.initContainers?.[0]?.restartPolicy, 'Always', 'a native sidecar');
  });

  it('refuses TLS older than 1.2 with a protocol_version alert', async () => {
    assert.equal(await oldTlsOutcome(webhook.httpsPort), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  });

  it('allows without a patch: not opted in, not a Pod, not CREATE, an ignored namespace', async () => {
    for (const [what, answer] of [
      ['not opted in', await apiServer.review(plainPod())],
      ['UPDATE', await apiServer.review(optedInPod(), { operation: 'UPDATE' })],
      ['kube-system', await apiServer.review(optedInPod(), { namespace: 'kube-system' })],
    ] as const) {
      assert.equal(answer.allowed, true, what);
      assert.equal(answer.patch, undefined, what);
    }
    const deployment = await apiServer.send(
      JSON.stringify(podReview({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }).review),
    );
    assert.equal(deployment.status, 200);
    assert.deepEqual(Object.keys(JSON.parse(deployment.body).response).sort(), ['allowed', 'uid']);
  });

  it('denies a pod whose opt-in has a problem (policy required), saying what is wrong', async () => {
    const answer = await apiServer.review(optedInPod('redis', { annotations: { 'exporter-injector.io/redis.port': 'ninety' } }));
    assert.equal(answer.allowed, false);
    assert.equal(answer.patch, undefined);
    assert.match(answer.status?.message ?? '', /redis\.port/);
    await goodRequestSucceeds();
  });

  it('gives dryRun the same answer over the wire', async () => {
    const wet = await apiServer.review(optedInPod(), { uid: 'dry-run-uid' });
    const dry = await apiServer.review(optedInPod(), { uid: 'dry-run-uid', dryRun: true });
    assert.deepEqual(JSON.parse(dry.raw.body), JSON.parse(wet.raw.body));
  });

  const good = JSON.stringify(podReview(optedInPod()).review);
  const badInputs: { name: string; body: string | Buffer; headers?: Record<string, string>; status: number; code: string; message: RegExp }[] = [
    { name: 'malformed JSON', body: '{"apiVersion": "admission.k8s.io/v1", "kind": ', status: 400, code: 'EI_ERR_HTTP_BODY', message: /not valid JSON/ },
    { name: 'an empty body', body: '', status: 400, code: 'EI_ERR_HTTP_BODY', message: /empty/ },
    { name: 'JSON that is not an object', body: '[1,2,3]', status: 400, code: 'EI_ERR_REVIEW_INVALID', message: /JSON object/ },
    { name: 'a wrong content type', body: good, headers: { 'Content-Type': 'application/yaml' }, status: 415, code: 'EI_ERR_HTTP_CONTENT_TYPE', message: /application\/yaml.*application\/json/ },
    { name: 'no content type', body: good, headers: {}, status: 415, code: 'EI_ERR_HTTP_CONTENT_TYPE', message: /\(none\)/ },
    {
      name: 'a body over the limit',
      body: Buffer.alloc(7 * 1024 * 1024 + 1, ' '),
      status: 413,
      code: 'EI_ERR_HTTP_BODY_TOO_LARGE',
      message: /over the 7 MiB limit/,
    },
    {
      name: 'a wrong apiVersion',
      body: good.replace('"admission.k8s.io/v1"', '"admission.k8s.io/v1beta1"'),
      status: 400,
      code: 'EI_ERR_REVIEW_INVALID',
      message: /admission\.k8s\.io\/v1beta1.*valid: admission\.k8s\.io\/v1 AdmissionReview/,
    },
    { name: 'a wrong kind', body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request: {} }), status: 400, code: 'EI_ERR_REVIEW_INVALID', message: /AdmissionReview/ },
    { name: 'no request', body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), status: 400, code: 'EI_ERR_REVIEW_INVALID', message: /request is missing/ },
    {
      name: 'no uid',
      body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' } }),
      status: 400,
      code: 'EI_ERR_REVIEW_INVALID',
      message: /request\.uid/,
    },
    {
      name: 'an object that is not a Pod although request.kind says Pod',
      body: JSON.stringify(podReview({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: {} }).review),
      status: 400,
      code: 'EI_ERR_REVIEW_OBJECT',
      message: /Deployment/,
    },
    {
      name: 'a prototype-poisoning body',
      body: '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","__proto__":{"allowed":true}}',
      status: 400,
      code: 'EI_ERR_HTTP_BODY',
      message: /./,
    },
  ];

  for (const bad of badInputs) {
    it(`answers ${bad.name} with HTTP ${bad.status} and a JSON error, then serves the next request`, async () => {
      const answer = await apiServer.send(bad.body, bad.headers ?? { 'Content-Type': 'application/json' });
      assert.equal(answer.status, bad.status, answer.body);
      assert.match(String(answer.headers['content-type']), /^application\/json/);
      const error = JSON.parse(answer.body) as { code: string; message: string };
      assert.equal(error.code, bad.code);
      assert.match(error.message, bad.message);
      await goodRequestSucceeds();
    });
  }

  it('reports alive, ready and metrics on the plain-HTTP port', async () => {
    assert.equal((await healthGet(webhook.healthPort, '/healthz')).status, 200);
    const ready = await healthGet(webhook.healthPort, '/readyz');
    assert.equal(ready.status, 200, ready.body);
    assert.deepEqual(JSON.parse(ready.body), { ready: true, reasons: [] });

    const metrics = await healthGet(webhook.healthPort, '/metrics');
    assert.equal(metrics.status, 200);
    const text = metrics.body;
    assert.equal(sample(text, 'exporter_injector_certificate_expiry_timestamp_seconds'), notAfter.getTime() / 1000);
    assert.equal(sample(text, 'exporter_injector_registry_templates'), webhook.templates.current.get().templates.size);
    assert.equal(sample(text, 'exporter_injector_registry_reload_failures_total'), 0);
    assert.equal(sample(text, 'exporter_injector_certificate_reload_failures_total'), 0);
    assert.ok((sample(text, 'exporter_injector_injections_total{template="redis"}') ?? 0) > 0);
    assert.ok((sample(text, 'exporter_injector_admissions_total{decision="error",reason="EI_ERR_HTTP_CONTENT_TYPE"}') ?? 0) >= 2);
    assert.ok((sample(text, 'exporter_injector_admissions_total{decision="skipped",reason="not-opted-in"}') ?? 0) > 0);
    assert.match(text, /^exporter_injector_admission_duration_seconds_bucket\{le="0.005",decision="injected"\} \d+$/m);
    // Timed from when the server took each request in, answers and refusals alike.
    assert.ok((sample(text, 'exporter_injector_admission_duration_seconds_sum{decision="injected"}') ?? 0) > 0);
    assert.ok((sample(text, 'exporter_injector_admission_duration_seconds_sum{decision="error"}') ?? 0) > 0);
    // Standard names, so stock Node.js and process dashboards find them.
    assert.ok((sample(text, 'process_cpu_user_seconds_total') ?? 0) > 0);
    assert.doesNotMatch(text, /^exporter_injector_process_/m);
  });
});

describe('readiness with an expired serving certificate', () => {
  it('is not ready, says why, and still exposes the expiry time', async () => {
    const pki = testPki();
    const { dir } = await servingCertDir('expired', pki, {}, { now: new Date(Date.now() - 3 * 24 * 3600 * 1000), days: 1 });
    const { webhook } = await startTestWebhook(dir);
    try {
      const ready = await healthGet(webhook.healthPort, '/readyz');
      assert.equal(ready.status, 503);
      assert.match((JSON.parse(ready.body) as { reasons: string[] }).reasons.join(' '), /expired at/);
      const metrics = await healthGet(webhook.healthPort, '/metrics');
      assert.ok((sample(metrics.body, 'exporter_injector_certificate_expiry_timestamp_seconds') ?? Infinity) * 1000 < Date.now());
    } finally {
      await webhook.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

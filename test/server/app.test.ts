// The /mutate app without sockets (fastify inject): the log line per admission and what it must
// never contain, the 500 path, dryRun, and the metrics each answer moves.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { admit } from '../../src/core/admit.js';
import type { Registry } from '../../src/core/types.js';
import { loadRegistry } from '../../src/registry/load.js';
import { buildApp } from '../../src/server/app.js';
import { Current } from '../../src/server/current.js';
import { createLogger } from '../../src/server/logger.js';
import { createMetrics, type WebhookMetrics } from '../../src/server/metrics.js';
import { podReview } from '../helpers/api-server-standin.js';
import { logCapture, optedInPod, plainPod } from './fixtures.js';

const SECRET_ENV = 'env-value-s3cr3t-9f2c';
const SECRET_IN_TARGET = 'hunter2-in-target-a71b';

describe('POST /mutate (in-process)', () => {
  let registry: Registry;
  let metrics: WebhookMetrics;
  let logs: ReturnType<typeof logCapture>;
  let app: ReturnType<typeof buildApp>;
  let logger: ReturnType<typeof createLogger>;

  before(async () => {
    registry = await loadRegistry();
    metrics = createMetrics({ processMetrics: false });
    logs = logCapture();
    app = buildApp({
      registry: new Current(registry),
      settings: { ignoredNamespaces: ['kube-system'], defaultSidecarMode: 'native' },
      path: '/mutate',
      bodyLimit: 7 * 1024 * 1024,
      logger: (logger = createLogger('info', logs.stream)),
      metrics,
      // A bug in the core for one uid only, so the next request shows the server is unharmed.
      admit: (body, r, s) => {
        if ((body as { request?: { uid?: string } }).request?.uid === 'uid-that-breaks') throw new TypeError('simulated bug');
        return admit(body, r, s);
      },
    });
    await app.ready();
  });
  after(() => app.close());

  const post = (review: unknown) =>
    app.inject({ method: 'POST', url: '/mutate?timeout=10s', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) });

  it('writes one JSON line per admission with the fields an operator searches by', async () => {
    const before = logs.lines().length;
    const { uid, review } = podReview(optedInPod(), { namespace: 'shop' });
    const res = await post(review);
    assert.equal(res.statusCode, 200);
    const added = logs.lines().slice(before);
    assert.equal(added.length, 1, JSON.stringify(added));
    const line = added[0]!;
    assert.equal(line.msg, 'admission');
    assert.equal(line.uid, uid);
    assert.equal(line.namespace, 'shop');
    assert.equal(line.pod, 'cache-7d9c6b5f4-*', 'generateName when the pod has no name yet');
    assert.equal(line.decision, 'injected');
    assert.equal(line.reason, 'injected');
    assert.deepEqual(line.templates, ['redis']);
    assert.equal(typeof line.durationMs, 'number');
    assert.equal(line.dryRun, false);

    // A pod that never asked for an exporter is logged at debug only (most admissions are such).
    const quiet = podReview(plainPod());
    const beforeQuiet = logs.lines().length;
    await post(quiet.review);
    assert.equal(logs.lines().length, beforeQuiet, 'no info line for a pod that did not opt in');
    logger.level = 'debug';
    const skipped = podReview(plainPod());
    try {
      await post(skipped.review);
    } finally {
      logger.level = 'info';
    }
    const skipLine = logs.lines().at(-1)!;
    assert.equal(skipLine.level, 20);
    assert.equal(skipLine.uid, skipped.uid);
    assert.equal(skipLine.pod, 'web');
    assert.equal(skipLine.decision, 'skipped');
    assert.equal(skipLine.reason, 'not-opted-in');
  });

  it('never logs pod env values or annotation values, whatever the outcome', async () => {
    const env = [{ name: 'PASSWORD', value: SECRET_ENV }];
    // Injected with a credential in the target, denied with it in a bad value, refused as a bad review.
    await post(podReview(optedInPod('redis', { env, annotations: { 'exporter-injector.io/redis.target': `redis://:${SECRET_IN_TARGET}@localhost:6379` } })).review);
    const denied = await post(podReview(optedInPod('redis', { env, annotations: { 'exporter-injector.io/redis.port': SECRET_IN_TARGET } })).review);
    assert.equal(denied.statusCode, 200);
    assert.equal(JSON.parse(denied.body).response.allowed, false);
    await post({ apiVersion: 'v1', kind: 'AdmissionReview', request: { object: optedInPod('redis', { env }) } });
    await post({ ...(podReview(optedInPod('redis', { env }), { uid: 'uid-that-breaks' }).review as object) });
    const text = logs.text();
    assert.ok(!text.includes(SECRET_ENV), 'an env value reached the logs');
    assert.ok(!text.includes(SECRET_IN_TARGET), 'an annotation value reached the logs');
    const deniedLine = logs.lines().find((l) => l.decision === 'denied');
    assert.deepEqual(deniedLine?.problems, ['EI_ERR_PARAM_INVALID'], 'problems are logged by code');
  });

  it('answers an unexpected exception with HTTP 500 JSON, logs the uid, and serves the next request', async () => {
    const res = await post(podReview(optedInPod(), { uid: 'uid-that-breaks' }).review);
    assert.equal(res.statusCode, 500);
    const body = JSON.parse(res.body) as { code: string; message: string };
    assert.equal(body.code, 'EI_ERR_INTERNAL');
    assert.match(body.message, /uid-that-breaks/);
    const line = logs.lines().findLast((l) => l.level === 50);
    assert.equal(line?.uid, 'uid-that-breaks');
    assert.match(JSON.stringify(line?.err), /simulated bug/);

    const next = await post(podReview(optedInPod()).review);
    assert.equal(next.statusCode, 200);
    assert.ok(JSON.parse(next.body).response.patch);
  });

  it('answers reviews that arrive together in one batch, each its own way: injected, skipped, 400, 500', async () => {
    // Bodies parsed so far, and how many each admission found parsed: in one batch, the first
    // admission comes after every body of the turn.
    let parsed = 0;
    const parsedAtAdmit: number[] = [];
    const batchApp = buildApp({
      registry: new Current(registry),
      settings: { ignoredNamespaces: [], defaultSidecarMode: 'native' },
      path: '/mutate',
      bodyLimit: 1024 * 1024,
      logger: createLogger('info', logCapture().stream),
      metrics: createMetrics({ processMetrics: false }),
      admit: (body, r, s) => {
        parsedAtAdmit.push(parsed);
        if ((body as { request?: { uid?: string } }).request?.uid === 'uid-that-breaks') throw new TypeError('simulated bug');
        return admit(body, r, s);
      },
    });
    batchApp.addHook('preHandler', async () => {
      parsed += 1;
    });
    await batchApp.ready();
    try {
      const reviews = [
        podReview(optedInPod(), { uid: 'together-1' }).review,
        podReview(plainPod(), { uid: 'together-2' }).review,
        podReview(optedInPod(), { uid: 'uid-that-breaks' }).review,
        { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'together-4' } },
        podReview(optedInPod('statsd'), { uid: 'together-5' }).review,
      ];
      const answers = await Promise.all(
        reviews.map((review) => batchApp.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) })),
      );
      assert.deepEqual(
        answers.map((a) => a.statusCode),
        [200, 200, 500, 400, 200],
      );
      const responses = answers.map((a) => JSON.parse(a.body) as { response?: { uid: string; patch?: string }; code?: string });
      assert.deepEqual(
        responses.map((r) => r.response?.uid ?? r.code),
        ['together-1', 'together-2', 'EI_ERR_INTERNAL', 'EI_ERR_REVIEW_INVALID', 'together-5'],
      );
      const patched = (i: number): string => Buffer.from(responses[i]!.response!.patch ?? '', 'base64').toString();
      assert.match(patched(0), /redis-exporter/);
      assert.equal(responses[1]!.response!.patch, undefined, 'the pod that did not opt in');
      assert.match(patched(4), /statsd-exporter/);
      assert.deepEqual(parsedAtAdmit, [5, 5, 5, 5, 5], 'all five were parsed before the first was admitted');
    } finally {
      await batchApp.close();
    }
  });

  it('gives a dryRun request exactly the same answer', async () => {
    const pod = optedInPod();
    const wet = await post(podReview(pod, { uid: 'same-uid' }).review);
    const dry = await post(podReview(pod, { uid: 'same-uid', dryRun: true }).review);
    assert.equal(dry.statusCode, 200);
    assert.deepEqual(JSON.parse(dry.body), JSON.parse(wet.body));
    assert.equal(logs.lines().at(-1)?.dryRun, true);
  });

  it('counts admissions by decision and reason, injections by template, errors by code', async () => {
    const value = async (name: string, labels: Record<string, string>) =>
      (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
    const injected0 = await value('exporter_injector_admissions_total', { decision: 'injected', reason: 'injected' });
    const redis0 = await value('exporter_injector_injections_total', { template: 'redis' });
    const skipped0 = await value('exporter_injector_admissions_total', { decision: 'skipped', reason: 'not-a-pod' });
    const bad0 = await value('exporter_injector_admissions_total', { decision: 'error', reason: 'EI_ERR_HTTP_BODY' });

    await post(podReview(optedInPod()).review);
    await post(podReview({ kind: 'Deployment' }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }).review);
    await app.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: '{"unterminated' });

    assert.equal(await value('exporter_injector_admissions_total', { decision: 'injected', reason: 'injected' }), injected0 + 1);
    assert.equal(await value('exporter_injector_injections_total', { template: 'redis' }), redis0 + 1);
    assert.equal(await value('exporter_injector_admissions_total', { decision: 'skipped', reason: 'not-a-pod' }), skipped0 + 1);
    assert.equal(await value('exporter_injector_admissions_total', { decision: 'error', reason: 'EI_ERR_HTTP_BODY' }), bad0 + 1);
    const histogram = await metrics.registry.getSingleMetric('exporter_injector_admission_duration_seconds')!.get();
    assert.ok(histogram.values.some((v) => (v as { metricName?: string }).metricName === 'exporter_injector_admission_duration_seconds_count' && v.value > 0));
  });

  it('answers other routes with a JSON 404 naming the webhook route', async () => {
    const res = await app.inject({ method: 'GET', url: '/mutate' });
    assert.equal(res.statusCode, 404);
    assert.equal(JSON.parse(res.body).code, 'EI_ERR_HTTP_ROUTE');
    assert.match(JSON.parse(res.body).message, /POST \/mutate/);
  });
});

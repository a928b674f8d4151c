// What /metrics says, as a Prometheus scrape reads it: the standard process and Node.js names that
// stock dashboards query, a reason on every denial, every problem by code, and the build.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Outcome } from '../../src/core/types.js';
import { loadRegistry } from '../../src/registry/load.js';
import { buildApp } from '../../src/server/app.js';
import { Current } from '../../src/server/current.js';
import { createLogger } from '../../src/server/logger.js';
import { createMetrics, type WebhookMetrics } from '../../src/server/metrics.js';
import { podReview } from '../helpers/api-server-standin.js';
import { logCapture, optedInPod } from './fixtures.js';

/** The value of one sample line `name{labels} value` in the exposition text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  let metrics: WebhookMetrics;
  let app: ReturnType<typeof buildApp>;

  before(async () => {
    metrics = createMetrics();
    app = buildApp({
      registry: new Current(await loadRegistry()),
      settings: { ignoredNamespaces: [], defaultSidecarMode: 'native' },
      path: '/mutate',
      bodyLimit: 1024 * 1024,
      logger: createLogger('info', logCapture().stream),
      metrics,
    });
    await app.ready();
  });
  after(() => app.close());

  const post = (pod: unknown) =>
    app.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(podReview(pod).review) });

  it('exposes process and Node.js metrics under their standard names, not under our prefix', async () => {
    const text = await metrics.registry.metrics();
    for (const name of ['process_cpu_user_seconds_total', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      assert.ok(sample(text, name) !== undefined, `${name} is exposed`);
    }
    if (process.platform === 'linux') assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0);
    assert.doesNotMatch(text, /^exporter_injector_(process|nodejs)_/m);
  });

  it('labels a denial with the code of its first problem and counts every problem by code', async () => {
    // An unknown template and an invalid policy: two problems, denied.
    const res = await post(optedInPod('redsi', { annotations: { 'exporter-injector.io/policy': 'sometimes' } }));
    assert.equal(res.statusCode, 200);
    assert.equal((JSON.parse(res.body) as { response: { allowed: boolean } }).response.allowed, false);
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'exporter_injector_admissions_total{decision="denied",reason="EI_ERR_ANNOTATION_VALUE"}'), 1, text);
    assert.equal(sample(text, 'exporter_injector_admission_problems_total{decision="denied",code="EI_ERR_ANNOTATION_VALUE"}'), 1);
    assert.equal(sample(text, 'exporter_injector_admission_problems_total{decision="denied",code="EI_ERR_TEMPLATE_UNKNOWN"}'), 1);
    assert.doesNotMatch(text, /reason="denied"/);

    // Under policy optional the same problems skip the pod; they are counted under skipped.
    await post(optedInPod('redsi', { annotations: { 'exporter-injector.io/policy': 'optional' } }));
    const after = await metrics.registry.metrics();
    assert.equal(sample(after, 'exporter_injector_admissions_total{decision="skipped",reason="problems-ignored"}'), 1);
    assert.equal(sample(after, 'exporter_injector_admission_problems_total{decision="skipped",code="EI_ERR_TEMPLATE_UNKNOWN"}'), 1);
  });

  it('says which build runs: exporter_injector_build_info{version,node_version} 1', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, `exporter_injector_build_info{version="${version}",node_version="${process.version}"}`), 1, text);
  });

  it('counts every admission recorded, whether or not a batch has filled, at every scrape', async () => {
    const own = createMetrics({ processMetrics: false });
    const injected: Outcome = { decision: 'injected', reason: 'injected', templates: ['redis', 'memcached'], warnings: [], problems: [], patchOperations: 9 };
    const read = async () => {
      const text = await own.registry.metrics();
      return {
        injected: sample(text, 'exporter_injector_admissions_total{decision="injected",reason="injected"}'),
        redis: sample(text, 'exporter_injector_injections_total{template="redis"}'),
        errors: sample(text, 'exporter_injector_admissions_total{decision="error",reason="EI_ERR_INTERNAL"}'),
        timed: sample(text, 'exporter_injector_admission_duration_seconds_count{decision="injected"}'),
        fast: sample(text, 'exporter_injector_admission_duration_seconds_bucket{le="0.0005",decision="injected"}'),
      };
    };
    // 2.5 batches, then a few more after a scrape: nothing is lost or counted twice.
    for (let i = 0; i < 2600; i += 1) own.recordOutcome(injected, i % 2 === 0 ? 0.0001 : 0.002);
    own.recordError('EI_ERR_INTERNAL', 0.001);
    assert.deepEqual(await read(), { injected: 2600, redis: 2600, errors: 1, timed: 2600, fast: 1300 });
    for (let i = 0; i < 3; i += 1) own.recordOutcome(injected, 0.0001);
    assert.deepEqual(await read(), { injected: 2603, redis: 2603, errors: 1, timed: 2603, fast: 1303 });
  });
});

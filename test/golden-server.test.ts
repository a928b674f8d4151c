// The golden inject cases through the webhook's HTTP edge: each pod of each case is sent as the
// API server sends it (an AdmissionReview POSTed as JSON to /mutate), the base64 JSON Patch of
// the answer is applied, and the manifests must then equal <case>.yaml.injected; denials and
// warnings must be the ones in <case>.yaml.error and .warnings. So the webhook and `inject`
// (test/golden.test.ts) are proven to agree, case by case.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { readManifests } from '../src/cli/commands/inject.js';
import { misplacedOptIn, podSites } from '../src/cli/workloads.js';
import { ANNOTATION } from '../src/core/annotations.js';
import { podShapeProblems, syntheticReview } from '../src/core/review.js';
import { toYaml } from '../src/cli/yaml-output.js';
import type { Pod } from '../src/core/types.js';
import { buildApp } from '../src/server/app.js';
import { Current } from '../src/server/current.js';
import { createLogger } from '../src/server/logger.js';
import { createMetrics } from '../src/server/metrics.js';
import { podReview } from './helpers/api-server-standin.js';
import { fakeIo } from './helpers/fake-io.js';
import { caseContext, caseSettings, discoverCases, INJECT_DIR, INJECT_SUFFIXES } from './helpers/golden.js';

const { cases } = discoverCases(INJECT_DIR, INJECT_SUFFIXES);

interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string };
}

/** Lines of a golden file that belong to one pod site (`<where>: ...`), without that prefix. */
function linesFor(file: string, where: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${where}: `))
    .map((l) => l.slice(where.length + 2));
}

describe('golden injection cases through the webhook', () => {
  for (const name of cases) {
    it(name, async () => {
      const s = caseSettings(name);
      const context = await caseContext(s);
      const app = buildApp({
        registry: new Current(context.registry),
        settings: context.settings,
        path: '/mutate',
        bodyLimit: 7 * 1024 * 1024,
        logger: createLogger('silent'),
        metrics: createMetrics({ processMetrics: false }),
      });
      await app.ready();
      const admitOverHttp = async (pod: Pod, namespace: string): Promise<AdmissionResponse> => {
        const { uid, review } = podReview(pod, { namespace });
        const res = await app.inject({ method: 'POST', url: '/mutate?timeout=10s', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) });
        assert.equal(res.statusCode, 200, res.body);
        const answer = res.json() as { apiVersion: string; kind: string; response: AdmissionResponse };
        assert.deepEqual([answer.apiVersion, answer.kind, answer.response.uid], ['admission.k8s.io/v1', 'AdmissionReview', uid]);
        return answer.response;
      };

      try {
        const file = join(INJECT_DIR, `${name}.yaml`);
        const { sources } = await readManifests([file], fakeIo().io);
        for (const source of sources) {
          for (const doc of source.documents) {
            // The CLI adds this hint for workloads; the webhook only ever sees the pod.
            const cliOnly = misplacedOptIn(doc.value, ANNOTATION.inject);
            for (const site of podSites(doc.value, s.namespace ?? 'default')) {
              const where = `${source.name} (document ${doc.index}, ${site.label})`;
              if (podShapeProblems(site.pod as Record<string, unknown>).length > 0) {
                // Unreadable as a Pod: the webhook answers 400 (the CLI reports an input error).
                const res = await app.inject({ method: 'POST', url: '/mutate', payload: syntheticReview(site.pod, site.namespace, randomUUID()) as object });
                assert.equal(res.statusCode, 400, `${where}: ${res.body}`);
                assert.equal((res.json() as { code: string }).code, 'EI_ERR_REVIEW_OBJECT');
                continue;
              }
              const response = await admitOverHttp(site.pod, site.namespace);

              const denials = linesFor(`${file}.error`, where).map((l) => l.replace(/^EI_ERR_[A-Z_]+: /, ''));
              if (denials.length > 0) {
                assert.equal(response.allowed, false, `${where}: denied, as ${name}.yaml.error says`);
                assert.equal(response.status?.code, 403);
                assert.equal(response.status?.message, `exporter-injector denied the pod: ${denials.join('; ')}`);
              } else {
                assert.equal(response.allowed, true, `${where}: allowed; ${response.status?.message ?? ''}`);
              }
              const expectedWarnings = linesFor(`${file}.warnings`, where).filter((w) => w !== cliOnly);
              assert.deepEqual(response.warnings ?? [], expectedWarnings, `${where}: the warnings of ${name}.yaml.warnings`);

              if (response.patch === undefined) {
                assert.equal(response.patchType, undefined, 'patchType only with a patch');
                continue;
              }
              assert.equal(response.patchType, 'JSONPatch');
              const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
              const mutated = jsonPatch.applyPatch(structuredClone(site.pod), patch, true, false).newDocument as Pod;
              site.write(mutated);
              const again = await admitOverHttp(mutated, site.namespace);
              assert.equal(again.patch, undefined, `${where}: the API server's reinvocation gets no second patch`);
            }
          }
        }
        const injected = sources.flatMap((src) => src.documents.map((d) => toYaml(d.value))).join('---\n');
        assert.equal(injected, readFileSync(`${file}.injected`, 'utf8'), `the webhook's patches give ${name}.yaml.injected`);
      } finally {
        await app.close();
      }
    });
  }
});

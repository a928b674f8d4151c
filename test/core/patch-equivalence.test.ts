// The webhook's patch (src/core/patch.ts, built from the changed subtrees only) against the
// reference, fast-json-patch's `compare` of the whole original and mutated pods: applying either
// to the pod as sent must give exactly the same pod, over every golden case (pods inside
// workloads too), the bundled examples and bench pods, and a seeded random corpus of pods with
// missing maps, keys that need escaping, existing init containers, volumes and sidecars.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { review as benchReview, SHAPES, type BodyName } from '../../bench/pods.js';
import { podSites } from '../../src/cli/workloads.js';
import { admit } from '../../src/core/admit.js';
import { parseOptIn } from '../../src/core/annotations.js';
import { DEFAULT_CORE_SETTINGS } from '../../src/core/defaults.js';
import { mutatePod } from '../../src/core/mutate.js';
import { buildPatch, encodePatch, escapePointerToken } from '../../src/core/patch.js';
import { podShapeProblems, syntheticReview } from '../../src/core/review.js';
import type { CoreSettings, Pod, Registry } from '../../src/core/types.js';
import { loadRegistry } from '../../src/registry/load.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const INJECT_DIR = join(ROOT, 'test/testdata/inject');

let builtins: Registry;
let custom: Registry;
before(async () => {
  builtins = await loadRegistry();
  custom = await loadRegistry(join(ROOT, 'test/testdata/templates'));
});

const apply = (pod: Pod, patch: readonly Operation[]): unknown =>
  jsonPatch.applyPatch(structuredClone(pod), structuredClone(patch) as Operation[], true, false).newDocument;

/**
 * Checks one pod; returns whether it was injected (so the corpus can prove it exercised the
 * patch and not only refusals).
 */
function checkEquivalent(pod: Pod, registry: Registry, settings: CoreSettings, label: string): boolean {
  // Documents the core refuses as unreadable (unquoted annotation values) never get a patch.
  if (podShapeProblems(pod as Record<string, unknown>).length > 0) return false;
  const sent = structuredClone(pod);
  const optIn = parseOptIn(pod.metadata?.annotations);
  if (!optIn.optedIn) return false;
  const result = mutatePod(pod, optIn.optIn, registry, settings);
  if (!result.ok) return false;
  assert.deepEqual(pod, sent, `${label}: mutatePod left the pod as sent untouched`);
  const reference = jsonPatch.compare(pod, result.mutated);
  const ours = buildPatch(pod, result.mutated) as Operation[];
  const expected = apply(pod, reference);
  assert.deepEqual(apply(pod, ours), expected, `${label}: applying the generated patch gives the pod the full diff gives\npatch: ${JSON.stringify(ours)}`);
  assert.deepEqual(JSON.parse(JSON.stringify(expected)), JSON.parse(JSON.stringify(result.mutated)), `${label}: and that pod is the mutated pod`);

  // admit() sends this patch, base64-encoded, when nothing else stops the injection.
  const answer = admit(syntheticReview(pod, pod.metadata?.namespace ?? 'default'), registry, settings);
  if (answer.outcome.decision === 'injected') {
    const sentPatch = JSON.parse(Buffer.from(answer.review.response.patch ?? '', 'base64').toString('utf8')) as Operation[];
    assert.deepEqual(apply(pod, sentPatch), expected, `${label}: the patch admit() answers with applies to the same pod`);
  }
  return answer.outcome.decision === 'injected';
}

describe('patch: escaping and shapes', () => {
  it('escapes ~ before / in pointer tokens', () => {
    assert.equal(escapePointerToken('prometheus.io/scrape'), 'prometheus.io~1scrape');
    assert.equal(escapePointerToken('a~/b'), 'a~0~1b');
    assert.equal(escapePointerToken('~1'), '~01');
    assert.equal(escapePointerToken('plain'), 'plain');
  });

  it('adds a missing map whole, appends to lists at their index, replaces a list that changed inside', () => {
    const a = { metadata: { name: 'p' }, spec: { initContainers: [{ name: 'x' }], volumes: [{ name: 'v' }] } };
    const b = {
      metadata: { name: 'p', annotations: { 'prometheus.io/scrape': 'true' } },
      spec: { initContainers: [a.spec.initContainers[0], { name: 'y' }], volumes: [{ name: 'w' }] },
    };
    assert.deepEqual(buildPatch(a, b), [
      { op: 'add', path: '/metadata/annotations', value: { 'prometheus.io/scrape': 'true' } },
      { op: 'add', path: '/spec/initContainers/1', value: { name: 'y' } },
      { op: 'replace', path: '/spec/volumes', value: [{ name: 'w' }] },
    ]);
    assert.deepEqual(buildPatch(a, structuredClone(a)), [], 'equal pods, no operations');
    assert.deepEqual(buildPatch({ a: 1, b: 2 }, { a: 1 }), [{ op: 'remove', path: '/b' }]);
  });

  it('encodes to base64 JSON that decodes to the same operations, the cached text of frozen values included', () => {
    const frozen = Object.freeze({ name: 'exporter', args: Object.freeze(['--a="b"', 'ü']) });
    const thawed = { name: 'mutable', args: ['x'] };
    const ops = buildPatch({ m: { 'a/b': 'x' }, l: [] }, { m: { 'a/b': 'y', 'c~d': 'z' }, l: [frozen, thawed] });
    const decode = (b64: string) => JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as unknown;
    assert.deepEqual(decode(encodePatch(ops)), JSON.parse(JSON.stringify(ops)));
    thawed.args.push('changed after the first encoding');
    assert.deepEqual(decode(encodePatch(ops)), JSON.parse(JSON.stringify(ops)), 'a value that is not frozen is serialized afresh');
    assert.deepEqual(decode(encodePatch([{ op: 'remove', path: '/m/a~1b' }])), [{ op: 'remove', path: '/m/a~1b' }]);
    const whole = buildPatch({}, { l: [frozen, thawed, 1, 'two', null] });
    assert.deepEqual(decode(encodePatch(whole)), [{ op: 'add', path: '/l', value: [frozen, thawed, 1, 'two', null] }], 'a new list holding cached values');
  });
});

describe('patch equivalence with the full diff', () => {
  it('every golden case, pods inside workloads included', async () => {
    const cases = readdirSync(INJECT_DIR).filter((f) => f.endsWith('.yaml') && !f.endsWith('.settings.yaml'));
    assert.ok(cases.length >= 30, `only ${cases.length} golden cases`);
    let injected = 0;
    for (const file of cases) {
      const settingsFile = join(INJECT_DIR, file.replace(/\.yaml$/, '.settings.yaml'));
      let caseSettings: { sidecarMode?: 'native' | 'classic'; templates?: string; namespace?: string } = {};
      try {
        caseSettings = parseAllDocuments(readFileSync(settingsFile, 'utf8'))[0]?.toJS() ?? {};
      } catch {
        // no settings file: the defaults
      }
      const registry = caseSettings.templates ? custom : builtins;
      const settings: CoreSettings = { ...DEFAULT_CORE_SETTINGS, ...(caseSettings.sidecarMode ? { defaultSidecarMode: caseSettings.sidecarMode } : {}) };
      for (const doc of parseAllDocuments(readFileSync(join(INJECT_DIR, file), 'utf8'))) {
        for (const site of podSites(doc.toJS(), caseSettings.namespace ?? 'default')) {
          if (checkEquivalent(site.pod, registry, settings, `${file}: ${site.label}`)) injected += 1;
        }
      }
    }
    assert.ok(injected >= 25, `only ${injected} golden pods were injected`);
  });

  it('the bundled examples and the bench pods', () => {
    const examples = join(ROOT, 'deploy/examples');
    let injected = 0;
    for (const file of readdirSync(examples)) {
      const text = readFileSync(join(examples, file), 'utf8');
      const docs = file.endsWith('.json') ? [(JSON.parse(text) as { request: { object: unknown } }).request.object] : parseAllDocuments(text).map((d) => d.toJS() as unknown);
      for (const doc of docs) for (const site of podSites(doc, 'default')) if (checkEquivalent(site.pod, builtins, DEFAULT_CORE_SETTINGS, `${file}: ${site.label}`)) injected += 1;
    }
    for (const name of Object.keys(SHAPES) as BodyName[]) {
      const pod = (benchReview(name) as { request: { object: Pod } }).request.object;
      if (checkEquivalent(pod, builtins, DEFAULT_CORE_SETTINGS, `bench ${name}`)) injected += 1;
    }
    assert.ok(injected >= 4, `only ${injected} example and bench pods were injected`);
  });

  it('a seeded random corpus', () => {
    const seed = Number(process.env.PATCH_SEED ?? Date.now() % 1_000_000);
    const random = mulberry32(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const maybe = (p = 0.5) => random() < p;
    const templates = [...builtins.templates.keys()];
    const awkwardKeys = ['prometheus.io/scrape', 'prometheus.io/port', 'a~b', 'x/y~z', '~1', 'example.com/owner', 'plain', 'exporter-injector.io/injected'];
    const COUNT = 2000;
    let injected = 0;
    try {
      for (let i = 0; i < COUNT; i += 1) {
        const annotations: Record<string, string> = { 'exporter-injector.io/inject': maybe(0.8) ? pick(['redis', 'memcached', 'nginx', 'statsd', 'process']) : `${pick(templates)},${pick(templates)}` };
        if (maybe(0.3)) annotations['exporter-injector.io/scrape'] = pick(['auto', 'override', 'off']);
        if (maybe(0.3)) annotations['exporter-injector.io/sidecar'] = pick(['native', 'classic']);
        for (const k of awkwardKeys) if (maybe(0.2)) annotations[k] = pick(['true', '9999', 'x']);
        const metadata: Record<string, unknown> = { name: `pod-${i}`, namespace: pick(['default', 'shop']), annotations };
        if (maybe(0.5)) metadata.labels = Object.fromEntries(awkwardKeys.filter(() => maybe(0.3)).map((k) => [k, 'v']));
        if (maybe(0.3)) metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u' }];
        const spec: Record<string, unknown> = {
          containers: Array.from({ length: 1 + Math.floor(random() * 3) }, (_, c) => ({ name: `app-${c}`, image: `example.com/app:${c}`, ...(maybe() ? { ports: [{ containerPort: 8000 + c }] } : {}) })),
        };
        if (maybe(0.4)) spec.initContainers = maybe() ? [] : [{ name: 'setup', image: 'busybox:1.36' }];
        if (maybe(0.4)) spec.volumes = maybe(0.2) ? [] : [{ name: 'data', emptyDir: {} }, ...(maybe() ? [{ name: 'a/b~c', emptyDir: {} }] : [])];
        if (maybe(0.2)) spec.shareProcessNamespace = true;
        if (maybe(0.1)) spec.hostNetwork = true;
        if (maybe(0.2)) spec.nodeSelector = { 'kubernetes.io/os': 'linux' };
        const pod = { apiVersion: 'v1', kind: 'Pod', metadata: maybe(0.05) ? { ...metadata, annotations: { ...annotations } } : metadata, spec } as unknown as Pod;
        const settings: CoreSettings = { ...DEFAULT_CORE_SETTINGS, defaultSidecarMode: pick(['native', 'classic'] as const) };
        if (checkEquivalent(pod, builtins, settings, `random pod ${i}`)) injected += 1;
      }
    } catch (e) {
      (e as Error).message = `seed ${seed} (rerun with PATCH_SEED=${seed}): ${(e as Error).message}`;
      throw e;
    }
    assert.ok(injected >= COUNT / 4, `seed ${seed}: only ${injected} of ${COUNT} random pods were injected; the corpus does not exercise the patch`);
  });
});

/** A small seeded PRNG, so a failing corpus can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

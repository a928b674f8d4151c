// The webhook's patch (src/core/patch.ts, built from the planned changes without looking at the
// rest of the pod) against the reference, fast-json-patch's `compare` of the whole original and a
// mutated copy made here the plain way (clone, then set and push): applying either to the pod as
// sent must give exactly the same pod, over every golden case (pods inside workloads too), the
// bundled examples and bench pods, and a seeded random corpus of pods with missing and null maps
// and lists, keys that need escaping, existing init containers, volumes and sidecars.
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
import { planInjection, type PodChanges } from '../../src/core/mutate.js';
import { escapePointerToken, injectionPatch } from '../../src/core/patch.js';
import { deepFreeze } from '../../src/core/freeze.js';
import { podShapeProblems, syntheticReview } from '../../src/core/review.js';
import type { CoreSettings, Pod, Registry } from '../../src/core/types.js';
import { loadRegistry } from '../../src/registry/load.js';
import { Rng } from '../helpers/review-fuzz.js';

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

/** The reference: a deep copy of the pod with the changes made the plain way. */
function mutatedCopy(pod: Pod, changes: PodChanges): object {
  const copy = structuredClone(pod) as Record<string, any>;
  const set = (parent: Record<string, any>, field: string, entries: PodChanges['annotations']) => {
    if (entries.length === 0) return;
    if (typeof parent[field] !== 'object' || parent[field] === null) parent[field] = {};
    for (const [key, value] of entries) parent[field][key] = value;
  };
  const push = (parent: Record<string, any>, field: string, elements: readonly unknown[]) => {
    if (elements.length === 0) return;
    if (!Array.isArray(parent[field])) parent[field] = [];
    parent[field].push(...structuredClone(elements));
  };
  if (typeof copy.metadata !== 'object' || copy.metadata === null) copy.metadata = {};
  set(copy.metadata, 'annotations', changes.annotations);
  set(copy.metadata, 'labels', changes.labels);
  if (typeof copy.spec !== 'object' || copy.spec === null) copy.spec = {};
  push(copy.spec, changes.sidecarList, changes.sidecars);
  push(copy.spec, 'volumes', changes.volumes);
  return copy;
}

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
  const result = planInjection(pod, optIn.optIn, registry, settings);
  if (!result.ok) return false;
  const mutated = mutatedCopy(pod, result.changes);
  const ours = injectionPatch(pod, result.changes).operations as Operation[];
  assert.deepEqual(pod, sent, `${label}: planning and patching left the pod as sent untouched`);
  // As the API server reads it (and as a diff writes it): `add` where the pod has no such member (or
  // at a list index), `replace` where it has one.
  for (const op of ours) {
    const at = op.path.lastIndexOf('/');
    const parent = jsonPatch.getValueByPointer(pod, op.path.slice(0, at)) as unknown;
    const key = op.path.slice(at + 1).replaceAll('~1', '/').replaceAll('~0', '~');
    const present = Array.isArray(parent) ? Number(key) < parent.length : typeof parent === 'object' && parent !== null && Object.hasOwn(parent, key);
    assert.equal(op.op, present ? 'replace' : 'add', `${label}: ${op.op} ${op.path}, but the pod ${present ? 'has' : 'has no'} such member`);
  }
  const expected = apply(pod, jsonPatch.compare(pod, mutated));
  assert.deepEqual(apply(pod, ours), expected, `${label}: applying the generated patch gives the pod the full diff gives\npatch: ${JSON.stringify(ours)}`);
  assert.deepEqual(JSON.parse(JSON.stringify(expected)), JSON.parse(JSON.stringify(mutated)), `${label}: and that pod is the mutated copy`);

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

  const changes = (over: Partial<PodChanges> = {}): PodChanges => ({
    sidecarList: 'initContainers',
    sidecars: [{ name: 'y' }],
    volumes: [{ name: 'w' }],
    annotations: [['prometheus.io/scrape', 'true']],
    labels: [['a~b', 'v']],
    ...over,
  });

  it('adds a missing map or list whole (replaces a null one), appends to lists at their index, sets map entries', () => {
    const pod = { metadata: { name: 'p', labels: null }, spec: { containers: [], initContainers: [{ name: 'x' }] } } as unknown as Pod;
    assert.deepEqual(injectionPatch(pod, changes()).operations, [
      { op: 'add', path: '/metadata/annotations', value: { 'prometheus.io/scrape': 'true' } },
      { op: 'replace', path: '/metadata/labels', value: { 'a~b': 'v' } },
      { op: 'add', path: '/spec/initContainers/1', value: { name: 'y' } },
      { op: 'add', path: '/spec/volumes', value: [{ name: 'w' }] },
    ]);
    const annotated = { metadata: { annotations: { 'prometheus.io/scrape': 'false' }, labels: { 'a~b': 'v' } }, spec: { containers: [] } } as unknown as Pod;
    assert.deepEqual(injectionPatch(annotated, changes({ sidecars: [], volumes: [] })).operations, [{ op: 'replace', path: '/metadata/annotations/prometheus.io~1scrape', value: 'true' }], 'a different value is replaced, an equal one left');
    assert.deepEqual(injectionPatch({ spec: { containers: [] } } as unknown as Pod, changes({ volumes: [] })).operations[0], { op: 'add', path: '/metadata', value: { annotations: { 'prometheus.io/scrape': 'true' }, labels: { 'a~b': 'v' } } });
  });

  const decode = (b64: string) => JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as unknown;

  it('encodes to base64 JSON that decodes to the same operations', () => {
    const pod = { metadata: { annotations: { 'q"uo\\te\u0001/ü': 'x' } }, spec: { containers: [] } } as unknown as Pod;
    const patch = injectionPatch(pod, changes({ annotations: [['q"uo\\te\u0001/ü', 'ü"'], ['new', '1']] }));
    assert.deepEqual(decode(patch.base64), JSON.parse(JSON.stringify(patch.operations)));
    assert.equal(patch.operations[0]?.path, '/metadata/annotations/q"uo\\te\u0001~1ü');
  });

  it('keeps the patch of frozen changes per pod shape, and never that of changes that may still change', () => {
    const frozen = deepFreeze(changes());
    const oneInit = { metadata: { labels: {} }, spec: { initContainers: [{ name: 'x' }] } } as unknown as Pod;
    const twoInits = { metadata: { labels: {} }, spec: { initContainers: [{ name: 'x' }, { name: 'z' }] } } as unknown as Pod;
    const first = injectionPatch(oneInit, frozen);
    assert.equal(injectionPatch(structuredClone(oneInit), frozen), first, 'a pod of the same shape gets the same patch');
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.operations) && first.operations.every((op) => Object.isFrozen(op)), 'a shared patch is frozen');
    const second = injectionPatch(twoInits, frozen);
    assert.notEqual(second, first);
    assert.equal(second.operations.find((op) => op.path.startsWith('/spec/initContainers'))?.path, '/spec/initContainers/2', 'another shape, another patch');
    const sidecarOp = (initContainers: unknown) => injectionPatch({ metadata: {}, spec: { initContainers } } as unknown as Pod, frozen).operations.find((op) => op.path.startsWith('/spec/initContainers'));
    assert.deepEqual(sidecarOp([]), { op: 'add', path: '/spec/initContainers/0', value: { name: 'y' } }, 'an empty list is appended to');
    assert.deepEqual(sidecarOp(null), { op: 'replace', path: '/spec/initContainers', value: [{ name: 'y' }] }, 'a null list is not an empty one');
    assert.deepEqual(sidecarOp(undefined), { op: 'add', path: '/spec/initContainers', value: [{ name: 'y' }] }, 'nor a missing one');
    const labelled = injectionPatch({ ...oneInit, metadata: { labels: { 'a~b': 'other' } } } as unknown as Pod, frozen);
    assert.deepEqual(labelled.operations.find((op) => op.path.startsWith('/metadata/labels')), { op: 'replace', path: '/metadata/labels/a~0b', value: 'v' }, 'an entry the pod has with another value is replaced');
    const same = injectionPatch({ ...oneInit, metadata: { labels: { 'a~b': 'v' } } } as unknown as Pod, frozen);
    assert.equal(same.operations.find((op) => op.path.startsWith('/metadata/labels')), undefined, 'an entry the pod has with the same value is left');

    const thawed = changes();
    const before = injectionPatch(oneInit, thawed);
    (thawed.sidecars as { name: string }[]).push({ name: 'added later' });
    assert.notDeepEqual(injectionPatch(oneInit, thawed), before, 'changes that are not frozen are not cached');
    assert.deepEqual(decode(injectionPatch(oneInit, thawed).base64), JSON.parse(JSON.stringify(injectionPatch(oneInit, thawed).operations)));
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
    const rng = new Rng(seed);
    const random = (): number => rng.next();
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
        if (maybe(0.5)) metadata.labels = maybe(0.2) ? null : Object.fromEntries(awkwardKeys.filter(() => maybe(0.3)).map((k) => [k, 'v']));
        if (maybe(0.3)) metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u' }];
        const spec: Record<string, unknown> = {
          containers: Array.from({ length: 1 + Math.floor(random() * 3) }, (_, c) => ({ name: `app-${c}`, image: `example.com/app:${c}`, ...(maybe() ? { ports: [{ containerPort: 8000 + c }] } : {}) })),
        };
        if (maybe(0.4)) spec.initContainers = maybe(0.2) ? null : maybe() ? [] : [{ name: 'setup', image: 'busybox:1.36' }];
        if (maybe(0.4)) spec.volumes = maybe(0.2) ? null : maybe(0.2) ? [] : [{ name: 'data', emptyDir: {} }, ...(maybe() ? [{ name: 'a/b~c', emptyDir: {} }] : [])];
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

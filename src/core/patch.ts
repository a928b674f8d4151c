// Stage 4b: the JSON Patch (RFC 6902) that applies an injection's changes (core/mutate.ts) to the
// pod as sent. Built from the changes and a few facts about the pod, without copying or diffing it,
// and correct by construction for:
// - maps and lists the pod does not have: added whole, with their values (replacing a null);
// - keys with `/` or `~` (`prometheus.io/scrape`): escaped as `~1` and `~0` (RFC 6901);
// - lists the pod has (init containers, volumes): one `add` per new element, at its index;
// - map entries: `add` for a new key, `replace` for a key the pod has with another value.
// test/core/patch-equivalence.test.ts proves that applying it gives exactly the pod that applying
// fast-json-patch's full `compare` of the pod and its mutated copy gives.
import { deepFreeze, isDeepFrozen } from './freeze.js';
import { isJsonObject, type JsonObject } from './json.js';
import { KeyedCache } from './keyed-cache.js';
import type { PodChanges } from './mutate.js';
import type { Pod } from './types.js';

/** An injection only adds and replaces; it never removes anything from the pod. */
export interface PatchOperation {
  readonly op: 'add' | 'replace';
  readonly path: string;
  readonly value: unknown;
}

/** The operations, and their JSON text base64-encoded as the API server wants it. */
export interface Patch {
  readonly operations: readonly PatchOperation[];
  readonly base64: string;
}

/** One reference token of a JSON Pointer (RFC 6901): `~` first, so `/` -> `~1` is not re-escaped. */
export function escapePointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * Everything the patch depends on in the pod, and nothing else. A map or list the injection adds to
 * is MISSING (added whole), NOT_ONE (there, but null: replaced whole) or there: metadata and spec are
 * PRESENT, a list is its length, a map is one mark per entry the injection sets (SAME, NEW or OTHER
 * value). None of these strings holds a `/`, so joined with `/` they are a cache key.
 */
interface PodFacts {
  readonly metadata: string;
  readonly annotations: string;
  readonly labels: string;
  readonly spec: string;
  readonly sidecars: string;
  readonly volumes: string;
}
const MISSING = '-';
// Not a digit: a list's facts are its length otherwise.
const NOT_ONE = 'n';
const PRESENT = 'p';
const SAME = '=';
const NEW = '+';
const OTHER = '~';

const absence = (value: unknown): string => (value === undefined ? MISSING : NOT_ONE);
const listFacts = (list: unknown): string => (Array.isArray(list) ? String(list.length) : absence(list));

function entryMarks(map: unknown, entries: PodChanges['annotations']): string {
  if (!isJsonObject(map)) return absence(map);
  let marks = '';
  // Indexed, not destructured: iterating a frozen array allocates an iterator (V8 12), and this runs per admission.
  for (let i = 0; i < entries.length; i += 1) {
    const entry = entries[i]!;
    // Own entries only; the rare key found is checked to be one (a plain load is the cheap test).
    const found = map[entry[0]];
    const previous = found !== undefined && Object.hasOwn(map, entry[0]) ? found : undefined;
    marks += previous === entry[1] ? SAME : previous === undefined ? NEW : OTHER;
  }
  return marks;
}

function podFacts(pod: Pod, changes: PodChanges): PodFacts {
  const { metadata, spec } = pod as unknown as JsonObject;
  const hasMetadata = isJsonObject(metadata);
  const hasSpec = isJsonObject(spec);
  return {
    metadata: hasMetadata ? PRESENT : absence(metadata),
    annotations: hasMetadata ? entryMarks(metadata.annotations, changes.annotations) : '',
    labels: hasMetadata ? entryMarks(metadata.labels, changes.labels) : '',
    spec: hasSpec ? PRESENT : absence(spec),
    sidecars: hasSpec ? listFacts(spec[changes.sidecarList]) : '',
    volumes: hasSpec ? listFacts(spec.volumes) : '',
  };
}

/**
 * Patches of cached (deep-frozen) changes, by the pod facts: the pods of one workload share their
 * facts, so the patch and its encoding are made once.
 */
const patches = new KeyedCache<PodChanges, Patch>(1024);
/** Whether changes are deep-frozen (only those have their patches kept), found once per object. */
const frozenChanges = new WeakMap<PodChanges, boolean>();

/** The patch that applies `changes` to `pod`; no operations when the pod already is so. */
export function injectionPatch(pod: Pod, changes: PodChanges): Patch {
  const facts = podFacts(pod, changes);
  let frozen = frozenChanges.get(changes);
  if (frozen === undefined) frozenChanges.set(changes, (frozen = isDeepFrozen(changes)));
  if (!frozen) return encoded(operations(changes, facts));
  const key = `${facts.metadata}/${facts.annotations}/${facts.labels}/${facts.spec}/${facts.sidecars}/${facts.volumes}`;
  return patches.get(changes, key) ?? patches.set(changes, key, deepFreeze(encoded(operations(changes, facts))));
}

function encoded(ops: PatchOperation[]): Patch {
  return { operations: ops, base64: Buffer.from(JSON.stringify(ops)).toString('base64') };
}

/** The operations, from the changes and the facts alone (never the pod: the facts are the cache key). */
function operations(changes: PodChanges, facts: PodFacts): PatchOperation[] {
  const ops: PatchOperation[] = [];
  if (facts.metadata === PRESENT) {
    setEntries('/metadata/annotations', facts.annotations, changes.annotations, ops);
    setEntries('/metadata/labels', facts.labels, changes.labels, ops);
  } else {
    const value: JsonObject = {};
    if (changes.annotations.length > 0) value.annotations = Object.fromEntries(changes.annotations);
    if (changes.labels.length > 0) value.labels = Object.fromEntries(changes.labels);
    if (Object.keys(value).length > 0) ops.push(whole('/metadata', facts.metadata, value));
  }
  if (facts.spec === PRESENT) {
    append(`/spec/${changes.sidecarList}`, facts.sidecars, changes.sidecars, ops);
    append('/spec/volumes', facts.volumes, changes.volumes, ops);
  } else {
    const value: JsonObject = {};
    if (changes.sidecars.length > 0) value[changes.sidecarList] = changes.sidecars;
    if (changes.volumes.length > 0) value.volumes = changes.volumes;
    if (Object.keys(value).length > 0) ops.push(whole('/spec', facts.spec, value));
  }
  return ops;
}

/** A map or list set whole: added where the pod has none, replacing where it has null (as a diff would). */
function whole(path: string, fact: string, value: unknown): PatchOperation {
  return { op: fact === MISSING ? 'add' : 'replace', path, value };
}

/** Sets map entries: the whole map when the pod has none. */
function setEntries(path: string, marks: string, entries: PodChanges['annotations'], ops: PatchOperation[]): void {
  if (entries.length === 0) return;
  if (marks === MISSING || marks === NOT_ONE) {
    // fromEntries defines own properties, so even a "__proto__" key would stay data.
    ops.push(whole(path, marks, Object.fromEntries(entries)));
    return;
  }
  entries.forEach(([key, value], i) => {
    if (marks[i] !== SAME) ops.push({ op: marks[i] === NEW ? 'add' : 'replace', path: `${path}/${escapePointerToken(key)}`, value });
  });
}

/** Appends list elements at their indexes: the whole list when the pod has none. */
function append(path: string, fact: string, elements: readonly unknown[], ops: PatchOperation[]): void {
  if (elements.length === 0) return;
  if (fact === MISSING || fact === NOT_ONE) {
    ops.push(whole(path, fact, elements));
    return;
  }
  const length = Number(fact);
  elements.forEach((element, i) => ops.push({ op: 'add', path: `${path}/${length + i}`, value: element }));
}

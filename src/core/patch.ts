// Stage 4b: the JSON Patch (RFC 6902) that applies an injection's changes (core/mutate.ts) to the
// pod as sent. Built from the changes directly, without copying or diffing the pod, and correct by
// construction for:
// - maps and lists the pod does not have: added whole, with their values (replacing a null);
// - keys with `/` or `~` (`prometheus.io/scrape`): escaped as `~1` and `~0` (RFC 6901);
// - lists the pod has (init containers, volumes): one `add` per new element, at its index;
// - map entries: `add` for a new key, `replace` for a key the pod has with another value.
// Values are referenced, not copied: the patch is serialized right away, and the values it shares
// with the cached renderings are frozen. test/core/patch-equivalence.test.ts proves that applying
// it gives exactly the pod that applying fast-json-patch's full `compare` of the pod and its
// mutated copy gives.
import { isDeepFrozen } from './freeze.js';
import type { PodChanges } from './mutate.js';
import type { Pod } from './types.js';

/** An injection only adds and replaces; it never removes anything from the pod. */
export interface PatchOperation {
  readonly op: 'add' | 'replace';
  readonly path: string;
  readonly value: unknown;
}

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Escaped keys seen before (the same annotation keys come with every pod); bounded. */
const escaped = new Map<string, string>();
/** The caches keep short strings only, so what a pod sends cannot make them large. */
const CACHED_LENGTH = 1024;

/** One reference token of a JSON Pointer (RFC 6901): `~` first, so `/` -> `~1` is not re-escaped. */
export function escapePointerToken(key: string): string {
  if (key.indexOf('/') === -1 && key.indexOf('~') === -1) return key;
  if (key.length > CACHED_LENGTH) return key.replaceAll('~', '~0').replaceAll('/', '~1');
  let token = escaped.get(key);
  if (token === undefined) {
    if (escaped.size >= 1000) escaped.clear();
    escaped.set(key, (token = key.replaceAll('~', '~0').replaceAll('/', '~1')));
  }
  return token;
}

/** The operations that apply `changes` to `pod`; empty when the pod already is so. */
export function injectionPatch(pod: Pod, changes: PodChanges): PatchOperation[] {
  const ops: PatchOperation[] = [];
  const root = pod as unknown as JsonObject;
  const metadata = root.metadata;
  if (isObject(metadata)) {
    setEntries('/metadata/annotations', metadata.annotations, changes.annotations, ops);
    setEntries('/metadata/labels', metadata.labels, changes.labels, ops);
  } else {
    const value: JsonObject = {};
    if (changes.annotations.length > 0) value.annotations = Object.fromEntries(changes.annotations);
    if (changes.labels.length > 0) value.labels = Object.fromEntries(changes.labels);
    if (Object.keys(value).length > 0) ops.push(whole('/metadata', metadata, value));
  }
  const spec = root.spec;
  if (isObject(spec)) {
    append(`/spec/${changes.sidecarList}`, spec[changes.sidecarList], changes.sidecars, ops);
    append('/spec/volumes', spec.volumes, changes.volumes, ops);
  } else {
    const value: JsonObject = {};
    if (changes.sidecars.length > 0) value[changes.sidecarList] = changes.sidecars;
    if (changes.volumes.length > 0) value.volumes = changes.volumes;
    if (Object.keys(value).length > 0) ops.push(whole('/spec', spec, value));
  }
  return ops;
}

/** A map or list set whole: added where the pod has none, replacing where it has null (as a diff would). */
function whole(path: string, previous: unknown, value: unknown): PatchOperation {
  return { op: previous === undefined ? 'add' : 'replace', path, value };
}

/** Sets map entries: the whole map when the pod has none. */
function setEntries(path: string, map: unknown, entries: PodChanges['annotations'], ops: PatchOperation[]): void {
  if (entries.length === 0) return;
  if (!isObject(map)) {
    // fromEntries defines own properties, so even a "__proto__" key would stay data.
    ops.push(whole(path, map, Object.fromEntries(entries)));
    return;
  }
  for (const [key, value] of entries) {
    const previous = Object.hasOwn(map, key) ? map[key] : undefined;
    if (previous === value) continue;
    ops.push({ op: previous === undefined ? 'add' : 'replace', path: `${path}/${escapePointerToken(key)}`, value });
  }
}

/** Appends list elements at their indexes: the whole list when the pod has none. */
function append(path: string, list: unknown, elements: readonly unknown[], ops: PatchOperation[]): void {
  if (elements.length === 0) return;
  if (!Array.isArray(list)) {
    ops.push(whole(path, list, elements));
    return;
  }
  for (let i = 0; i < elements.length; i += 1) ops.push({ op: 'add', path: `${path}/${list.length + i}`, value: elements[i] });
}

/**
 * JSON text of the values that come from cached renderings (deep-frozen, so their text cannot go
 * stale): a sidecar container is serialized once, not once per admission.
 */
const fragments = new WeakMap<object, string>();

/** JSON text of string values seen before (the status annotation's, the scrape ones); bounded. */
const stringJson = new Map<string, string>();

function jsonString(text: string): string {
  if (text.length > CACHED_LENGTH) return JSON.stringify(text);
  let json = stringJson.get(text);
  if (json === undefined) {
    if (stringJson.size >= 1000) stringJson.clear();
    stringJson.set(text, (json = JSON.stringify(text)));
  }
  return json;
}

/** Printable ASCII but `"` and `\`: JSON text as it is. */
const PLAIN_JSON = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A path is new text each time (the hash a cache lookup needs costs more than this test). */
function pathJson(path: string): string {
  return PLAIN_JSON.test(path) ? `"${path}"` : JSON.stringify(path);
}

function valueJson(value: unknown): string {
  if (typeof value === 'string') return jsonString(value);
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  const known = fragments.get(value);
  if (known !== undefined) return known;
  // A new list (the pod had no init containers) holding cached sidecars: element by element.
  if (Array.isArray(value) && !Object.isFrozen(value)) return `[${value.map((v: unknown) => (v === undefined ? 'null' : valueJson(v))).join(',')}]`;
  const json = JSON.stringify(value);
  if (isDeepFrozen(value)) fragments.set(value, json);
  return json;
}

/** The patch as the API server wants it: JSON text, base64-encoded. */
export function encodePatch(ops: readonly PatchOperation[]): string {
  let json = '[';
  for (let i = 0; i < ops.length; i += 1) {
    const op = ops[i]!;
    json += `${i === 0 ? '' : ','}{"op":"${op.op}","path":${pathJson(op.path)},"value":${valueJson(op.value)}}`;
  }
  return Buffer.from(`${json}]`).toString('base64');
}

// Stage 4b: the JSON Patch (RFC 6902) that turns the pod as sent into the mutated pod.
// mutatePod copies only what it changes and shares every other subtree with the original, so the
// diff stops at the first identical reference and walks just the changed paths (metadata,
// its annotations and labels, the spec and its container/volume lists), whatever mutatePod changes.
// Correct by construction for:
// - maps the pod did not have: a key missing from the original is added whole, with its value;
// - keys with `/` or `~` (`prometheus.io/scrape`): escaped as `~1` and `~0` (RFC 6901);
// - lists that grew at the end (init containers, volumes): one `add` per new element, at its index;
//   any other change to a list replaces the list.
// Values are referenced, not copied: the patch is serialized right away, and the values it shares
// with the cached renderings are frozen. test/core/patch-equivalence.test.ts proves that applying
// it gives exactly the pod that applying fast-json-patch's full `compare` gives.

export type PatchOperation =
  | { readonly op: 'add'; readonly path: string; readonly value: unknown }
  | { readonly op: 'replace'; readonly path: string; readonly value: unknown }
  | { readonly op: 'remove'; readonly path: string };

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

/** The operations that turn `original` into `mutated`; empty when they are equal. */
export function buildPatch(original: unknown, mutated: unknown): PatchOperation[] {
  const ops: PatchOperation[] = [];
  diff('', original, mutated, ops);
  return ops;
}

function diff(path: string, before: unknown, after: unknown, ops: PatchOperation[]): void {
  if (before === after) return;
  if (isObject(before) && isObject(after)) {
    diffObjects(path, before, after, ops);
  } else if (Array.isArray(before) && Array.isArray(after)) {
    diffArrays(path, before, after, ops);
  } else if (!jsonEqual(before, after)) {
    ops.push({ op: 'replace', path, value: after });
  }
}

function diffObjects(path: string, before: JsonObject, after: JsonObject, ops: PatchOperation[]): void {
  // Most keys are shared with the original, so an identical value skips a key before any other
  // check. That needs no own-property test: values here are JSON data (or frozen renderings),
  // never equal to what a plain object inherits. A key whose value is undefined is absent in JSON.
  for (const key of Object.keys(before)) {
    const previous = before[key];
    if (previous === after[key] || previous === undefined) continue;
    if (!Object.hasOwn(after, key) || after[key] === undefined) ops.push({ op: 'remove', path: `${path}/${escapePointerToken(key)}` });
  }
  for (const key of Object.keys(after)) {
    const value = after[key];
    const previous = before[key];
    if (value === previous || value === undefined) continue;
    const at = `${path}/${escapePointerToken(key)}`;
    if (!Object.hasOwn(before, key) || previous === undefined) ops.push({ op: 'add', path: at, value });
    else diff(at, previous, value, ops);
  }
}

function diffArrays(path: string, before: readonly unknown[], after: readonly unknown[], ops: PatchOperation[]): void {
  const kept = Math.min(before.length, after.length);
  let prefixEqual = after.length >= before.length;
  for (let i = 0; i < kept && prefixEqual; i += 1) prefixEqual = before[i] === after[i] || jsonEqual(before[i], after[i]);
  if (!prefixEqual) {
    ops.push({ op: 'replace', path, value: after });
    return;
  }
  for (let i = before.length; i < after.length; i += 1) ops.push({ op: 'add', path: `${path}/${i}`, value: after[i] });
}

/** Equality of JSON values (key order ignored, undefined members absent). */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const ak = Object.keys(a).filter((k) => a[k] !== undefined);
    const bk = Object.keys(b).filter((k) => b[k] !== undefined);
    return ak.length === bk.length && ak.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * JSON text of the values that come from cached renderings (deep-frozen, so their text cannot go
 * stale): a sidecar container is serialized once, not once per admission.
 */
const fragments = new WeakMap<object, string>();

function isDeepFrozen(value: object): boolean {
  if (!Object.isFrozen(value)) return false;
  for (const v of Object.values(value)) if (typeof v === 'object' && v !== null && !isDeepFrozen(v)) return false;
  return true;
}

/** JSON text of strings seen before (pointer paths, the status annotation's value); bounded. */
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
    json += `${i === 0 ? '' : ','}{"op":"${op.op}","path":${jsonString(op.path)}${op.op === 'remove' ? '' : `,"value":${valueJson(op.value)}`}}`;
  }
  return Buffer.from(`${json}]`).toString('base64');
}

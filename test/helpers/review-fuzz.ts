// A seeded, reproducible generator of AdmissionReview bodies for the fuzz property test and the
// stress run: valid pods of random shapes with random opt-in and parameter annotations (built-in
// template names, hostile values), `__proto__`/`constructor`/`prototype` keys at every level, and
// malformed envelopes. Bodies are raw JSON text, so duplicate keys and `__proto__` are really in
// what is sent (an object literal or JSON.stringify of a parsed object would lose them).
import { isDeepStrictEqual } from 'node:util';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1/Pod';
import { renderExporter } from '../../src/core/render.js';
import type { InjectionStatus } from '../../src/core/status.js';
import type { Container, Registry } from '../../src/core/types.js';

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** JSON text written as is (a truncated body, a duplicate key). */
class RawJson {
  constructor(readonly text: string) {}
}
/** An object whose keys may repeat, written in this order. */
class Entries {
  constructor(readonly pairs: [string, unknown][]) {}
}

/** JSON text of a value; own `__proto__` keys (made with computed keys) and Entries survive. */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof Entries) return `{${value.pairs.map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`).join(',')}}`;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .map((k) => `${JSON.stringify(k)}:${jsonText((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export type CaseKind = 'pod' | 'malformed';

export interface FuzzCase {
  /** The request body as sent. */
  readonly body: string;
  /** `pod`: a well-formed Pod CREATE review (it must be answered); `malformed`: anything else. */
  readonly kind: CaseKind;
  /** request.uid when the body has a usable one. */
  readonly uid: string | undefined;
  /** What the generator meant to produce, for failure messages. */
  readonly what: string;
}

const POISON_KEYS = ['__proto__', 'constructor', 'prototype'] as const;
const PREFIX = 'exporter-injector.io/';
const GENERIC = ['image', 'port', 'target', 'secret', 'args', 'cpu', 'memory', 'path'];

const UNICODE = ['ünïcödé', '名前', 'имя', '😀🚀', 'e\u0301', '\u200b', 'ǅ', 'ﬃ', '\u{10ffff}', 'עברית', '\ud7ff'];
const CONTROL = ['\u0000', '\u0001', '\b', '\t', '\n', '\r', '\u001b[31m', '\u007f', '\u2028', '\u2029'];
const FRAGMENTS = [
  'key: value\n- item\n  nested: [1, 2]',
  '---\nkind: Pod\n',
  '!!python/object:os.system',
  '&a [*a]',
  '{"op":"add","path":"/spec/hostNetwork","value":true}',
  '"},{"op":"replace","path":"/spec","value":{}}',
  '[{"a":1}]',
  '{{ .Values.x }}',
  '{port}',
  '{target}{path}{value}',
  '~1~0/',
  '/spec/containers/0',
  '%s%n%x',
  '../../etc/passwd',
  '; rm -rf /',
  '`id`',
  "' OR 1=1 --",
  '\\',
  '\\"',
  '"',
  "'",
];
const DOLLARS = ['$', '$$', '$(HOME)', '$$(HOME)', '$(MYSQLD_EXPORTER_USER)', '${HOME}', '$((1+1))', 'a$b', '$(', '$)'];

export class ReviewFuzzer {
  readonly #rng: Rng;
  readonly #templates: readonly string[];
  readonly #params: ReadonlyMap<string, readonly string[]>;
  #n = 0;

  constructor(
    readonly seed: number,
    registry: Registry,
  ) {
    this.#rng = new Rng(seed);
    this.#templates = [...registry.templates.keys()].sort();
    this.#params = new Map([...registry.templates].map(([name, t]) => [name, [...GENERIC, ...t.params.map((p) => p.name)]]));
  }

  /** The next case: mostly well-formed pod reviews, a fifth malformed envelopes. */
  next(): FuzzCase {
    this.#n += 1;
    return this.#rng.chance(0.8) ? this.podCase() : this.malformedCase();
  }

  // ---- values ---------------------------------------------------------------------------------

  /** A string from every family the issue lists; `valid` is a plausible value for the slot. */
  hostileString(valid: string[] = []): string {
    const r = this.#rng;
    switch (r.int(12)) {
      case 0:
        return '';
      case 1:
        return r.pick(UNICODE) + (r.chance(0.5) ? r.pick(UNICODE) : '');
      case 2:
        return `a${r.pick(CONTROL)}b`;
      case 3:
        return r.pick(FRAGMENTS);
      case 4:
        return r.pick(DOLLARS);
      case 5:
        return (valid.length > 0 ? r.pick(valid) : 'x').repeat(1 + r.int(3)) + r.pick(DOLLARS);
      case 6:
        // Huge: over every sensible length limit, now and then far over (the API server's limit
        // on all annotations together is 256 KiB).
        if (r.chance(0.7)) return valid.length > 0 ? r.pick(valid) : 'v';
        return 'x'.repeat(r.chance(0.1) ? 70_000 + r.int(30_000) : 1000 + r.int(9000));
      case 7:
        return ` ${valid.length > 0 ? r.pick(valid) : 'v'} `;
      case 8:
        return r.pick(POISON_KEYS);
      default:
        return valid.length > 0 ? r.pick(valid) : r.pick(FRAGMENTS);
    }
  }

  /** Values that pass or nearly pass each generic parameter's check, mixed with hostile ones. */
  paramValue(param: string): string {
    const plausible: Record<string, string[]> = {
      image: ['registry.example.com/team/exporter:v1.2.3', 'oliver006/redis_exporter:v1.88.0', 'img@sha256:' + 'a'.repeat(64), 'latest', 'UPPER:1'],
      port: ['9121', '9999', '8080', '0', '65536', '-1', '1e3', '09121'],
      target: ['redis://localhost:6379', 'localhost:11211', 'unix:///tmp/s.sock', 'localhost:5432/postgres?sslmode=disable', 'http://[::1]:80/x', 'host port'],
      secret: ['db-creds', 'Db_Creds', 'a.b.c', '-x'],
      args: ['--a', '--web.max-requests=5', '-v --x=1', '--x=$(HOME)', '--x=$$', '--x=a b', 'positional', '--x="q"'],
      cpu: ['50m', '1', '0', '0.5', '1e3', '-1', '50M'],
      memory: ['64Mi', '1Gi', '64m', '1048576', '0', '2Ei'],
      path: ['/metrics', '/x/y', 'metrics', '/a b', '/~user'],
      names: ['nginx', 'nginx,php-fpm', 'a'.repeat(16), 'x$(Y)'],
      mapping: ['statsd-mapping', 'mapping-$(X)'],
      config: ['json-config', 'sql-config'],
      logs: ['logs', 'app-logs', 'LOGS'],
      progs: ['mtail-progs'],
    };
    const valid: Record<string, string[]> = {
      image: ['registry.example.com/team/exporter:v1.2.3'],
      port: ['9999', '19121', '8081'],
      cpu: ['50m', '1'],
      memory: ['64Mi', '1Gi'],
      path: ['/metrics', '/x/y'],
      args: ['--a', '--web.max-requests=5', '--x=$(HOME)', '--x=$$(Y)', '-v --x=$'],
      secret: ['db-creds'],
      target: ['localhost:6379', 'redis://localhost:6379', 'localhost:5432/db?sslmode=disable&x=$(Y)'],
      names: ['nginx,php-fpm', 'x$(Y)'],
      logs: ['logs'],
    };
    const own = (table: Record<string, string[]>) => (Object.hasOwn(table, param) ? table[param] : undefined);
    if (this.#rng.chance(0.5) && own(valid)) return this.#rng.pick(own(valid)!);
    return this.hostileString(own(plausible) ?? ['value', 'v-1', 'a.b', '$(X)']);
  }

  /** A DNS label usually, a unicode or empty name sometimes. */
  name(stem: string): string {
    const r = this.#rng;
    if (r.chance(0.08)) return this.hostileString([stem]);
    return `${stem}${r.chance(0.5) ? `-${r.int(1000)}` : ''}`;
  }

  /** A map with keys from `keys`, sometimes empty, sometimes huge. */
  stringMap(keys: () => string, values: () => string): Record<string, string> {
    const r = this.#rng;
    const size = r.chance(0.1) ? 0 : r.chance(0.05) ? 300 + r.int(700) : r.int(6);
    const map: Record<string, string> = {};
    for (let i = 0; i < size; i++) {
      if (size > 50) map[`${keys()}-${i}`] = `v${i}`;
      else map[keys()] = values();
    }
    return map;
  }

  // ---- pods -----------------------------------------------------------------------------------

  container(stem: string, where: 'container' | 'init' | 'ephemeral'): Record<string, unknown> {
    const r = this.#rng;
    const c: Record<string, unknown> = { name: this.name(stem), image: r.pick(['redis:7.4', 'nginx:1.27', 'postgres:16', 'oliver006/redis_exporter:v1.88.0', 'busybox', 'app@sha256:' + 'b'.repeat(64)]) };
    if (r.chance(0.6)) {
      c.ports = Array.from({ length: 1 + r.int(3) }, () => ({
        ...(r.chance(0.6) ? { name: r.pick(['http', 'metrics', 'redis', 'p', 'ünï']) } : {}),
        containerPort: r.pick([80, 6379, 9121, 9113, 9187, 8080, 5432, 1 + r.int(65535)]),
        ...(r.chance(0.7) ? { protocol: r.pick(['TCP', 'UDP', 'SCTP']) } : {}),
      }));
    }
    if (r.chance(0.3)) c.env = Array.from({ length: 1 + r.int(3) }, (_, i) => ({ name: `VAR_${i}`, value: this.hostileString(['x', '$(HOME)']) }));
    if (r.chance(0.2)) c.args = Array.from({ length: 1 + r.int(3) }, () => this.hostileString(['--flag', '$(VAR)']));
    if (where === 'init' && r.chance(0.3)) c.restartPolicy = 'Always';
    if (where === 'ephemeral') c.targetContainerName = 'app';
    if (r.chance(0.2)) c.volumeMounts = [{ name: 'data', mountPath: '/data' }];
    return c;
  }

  /** A Pod with a random shape and random opt-in annotations (`__proto__` & co. only via poison()). */
  pod(): Record<string, unknown> {
    const r = this.#rng;
    const annotations = this.stringMap(() => r.pick(['app.kubernetes.io/note', 'example.com/x', 'note', 'prometheus.io/scrape', 'prometheus.io/port', 'ünï/x']), () => this.hostileString(['v', 'true']));
    if (r.chance(0.85)) this.optIn(annotations);
    const metadata: Record<string, unknown> = {
      ...(r.chance(0.5) ? { name: this.name('web') } : { generateName: `${this.name('web')}-` }),
      ...(r.chance(0.7) ? { namespace: r.pick(['default', 'shop', 'kube-system', 'team-a', 'ns-ünï']) } : {}),
      ...(r.chance(0.7) ? { labels: this.stringMap(() => r.pick(['app', 'tier', 'app.kubernetes.io/name', 'exporter-injector.io/injected']), () => this.hostileString(['web', 'true'])) } : {}),
      ...(r.chance(0.95) ? { annotations } : {}),
    };
    const spec: Record<string, unknown> = {
      containers: Array.from({ length: r.chance(0.05) ? 0 : 1 + r.int(3) }, (_, i) => this.container(i === 0 ? 'app' : `c${i}`, 'container')),
    };
    if (r.chance(0.3)) spec.initContainers = Array.from({ length: r.int(3) }, (_, i) => this.container(`init${i}`, 'init'));
    if (r.chance(0.1)) spec.ephemeralContainers = [this.container('debug', 'ephemeral')];
    if (r.chance(0.4)) {
      spec.volumes = Array.from({ length: r.int(4) }, (_, i) =>
        r.chance(0.5) ? { name: r.pick(['data', 'logs', 'app-logs', `v${i}`]), emptyDir: {} } : { name: r.pick(['config', `cm${i}`, 'redis-exporter-scratch']), configMap: { name: 'cm' } },
      );
    }
    if (r.chance(0.15)) spec.shareProcessNamespace = r.chance(0.5);
    if (r.chance(0.1)) spec.hostNetwork = true;
    if (r.chance(0.2)) spec.restartPolicy = r.pick(['Always', 'OnFailure', 'Never']);
    if (r.chance(0.1)) spec.nodeSelector = this.stringMap(() => r.pick(['kubernetes.io/os', 'zone']), () => 'linux');
    return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
  }

  /** Adds the opt-in and parameter annotations: built-in templates usually, anything sometimes. */
  optIn(annotations: Record<string, string>): void {
    const r = this.#rng;
    const names = Array.from({ length: 1 + (r.chance(0.2) ? r.int(3) : 0) }, () => (r.chance(0.85) ? r.pick(this.#templates) : this.hostileString(['redis', 'nope', 'false'])));
    annotations[`${PREFIX}inject`] = r.chance(0.05) ? this.hostileString(['redis', 'false', '']) : names.join(r.pick([',', ', ', ' ,']));
    for (const key of ['policy', 'scrape', 'sidecar'] as const) {
      const valid = { policy: ['required', 'optional'], scrape: ['auto', 'override', 'off'], sidecar: ['native', 'classic'] }[key];
      if (r.chance(0.3)) annotations[`${PREFIX}${key}`] = r.chance(0.8) ? r.pick(valid) : this.hostileString(valid);
    }
    for (const name of names) {
      const params = this.#params.get(name) ?? GENERIC;
      for (let i = r.int(3); i > 0; i--) {
        const param = r.chance(0.9) ? r.pick(params) : this.hostileString(['prot', 'imagee']);
        annotations[`${PREFIX}${name}.${param}`] = this.paramValue(param);
      }
      // Templates that need a Secret or a param are often given a valid one, so injection happens.
      if (r.chance(0.6)) annotations[`${PREFIX}${name}.secret`] ??= 'db-creds';
    }
    if (r.chance(0.05)) annotations[`${PREFIX}status`] = this.hostileString(['{}']);
    if (r.chance(0.05)) annotations[`${PREFIX}${this.hostileString(['unknown'])}`] = 'x';
  }

  /** Adds `__proto__`, `constructor` or `prototype` keys (own properties) at random depths. */
  poison(value: unknown, depth = 0): unknown {
    const r = this.#rng;
    if (Array.isArray(value)) return value.map((v) => this.poison(v, depth + 1));
    if (value === null || typeof value !== 'object' || value instanceof RawJson || value instanceof Entries) return value;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) out[k] = this.poison((value as Record<string, unknown>)[k], depth + 1);
    if (r.chance(0.12)) {
      const key = r.pick(POISON_KEYS);
      const poison = r.pick<unknown>([{ polluted: 'yes' }, { prototype: { polluted: 'yes' } }, 'yes', [1], null, { toString: 'x', valueOf: 'y' }]);
      Object.defineProperty(out, key, { value: poison, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  envelope(object: unknown, uid: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const r = this.#rng;
    return {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        requestKind: { group: '', version: 'v1', kind: 'Pod' },
        namespace: r.chance(0.9) ? r.pick(['default', 'shop']) : 'kube-system',
        operation: r.chance(0.9) ? 'CREATE' : r.pick(['UPDATE', 'DELETE', 'CONNECT']),
        userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:authenticated'] },
        object,
        oldObject: null,
        dryRun: r.chance(0.1),
        options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
        ...extra,
      },
    };
  }

  podCase(): FuzzCase {
    const uid = `fuzz-${this.seed}-${this.#n}`;
    const pod = this.pod();
    const poisoned = this.#rng.chance(0.3);
    const review = this.envelope(pod, uid);
    return { body: jsonText(poisoned ? this.poison(review) : review), kind: 'pod', uid, what: poisoned ? 'pod review with prototype keys' : 'pod review' };
  }

  malformedCase(): FuzzCase {
    const r = this.#rng;
    const uid = `fuzz-${this.seed}-${this.#n}`;
    const good = jsonText(this.envelope(this.pod(), uid));
    const variants: (() => { body: string; what: string; uid?: string })[] = [
      () => ({ body: good.slice(0, r.int(good.length)), what: 'truncated body' }),
      () => ({ body: jsonText(r.pick<unknown>([null, 1, 'x', true, [], [{}]])), what: 'not an object' }),
      () => ({ body: jsonText({ ...this.envelope(this.pod(), uid), apiVersion: r.pick(['admission.k8s.io/v1beta1', 'v1', '', 1, null]) }), what: 'wrong apiVersion' }),
      () => ({ body: jsonText({ ...this.envelope(this.pod(), uid), kind: r.pick(['Pod', 'AdmissionRequest', '', {}, null]) }), what: 'wrong kind' }),
      () => {
        const review = this.envelope(this.pod(), uid) as { request: Record<string, unknown> };
        delete review.request.uid;
        return { body: jsonText(review), what: 'missing uid' };
      },
      () => {
        const review = this.envelope(this.pod(), uid) as { request: Record<string, unknown> };
        const field = r.pick(['uid', 'kind', 'operation', 'object', 'namespace', 'dryRun']);
        review.request[field] = r.pick<unknown>([1, [], {}, null, true, 'x', { kind: 1 }]);
        return { body: jsonText(review), what: `request.${field} of a wrong type`, uid: field === 'uid' ? undefined : uid };
      },
      () => {
        const review = this.envelope(this.pod(), uid) as { request: { object: Record<string, unknown> } };
        const pod = review.request.object as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
        const target = r.pick(['spec', 'containers', 'metadata', 'annotations', 'labels', 'object', 'kind', 'containersItem', 'containerField', 'otherList']);
        const bad = r.pick<unknown>([1, 'x', null, [], { a: 1 }, [1, 2], true]);
        if (target === 'spec') pod.spec = bad as never;
        else if (target === 'containers') pod.spec.containers = bad;
        else if (target === 'metadata') pod.metadata = bad as never;
        else if (target === 'annotations') pod.metadata.annotations = r.chance(0.5) ? bad : { [`${PREFIX}inject`]: r.pick<unknown>([1, null, ['redis'], { a: 'b' }, true]) };
        else if (target === 'labels') pod.metadata.labels = bad;
        else if (target === 'object') review.request.object = bad as never;
        else if (target === 'kind') review.request.object = { ...review.request.object, kind: r.pick(['Deployment', 1, null, '']) };
        else if (target === 'containerField') {
          const container = ((pod.spec.containers as Record<string, unknown>[])[0] ??= { name: 'app' });
          container[r.pick(['name', 'image', 'ports', 'restartPolicy'])] = r.chance(0.5) ? bad : [bad];
        } else if (target === 'otherList') pod.spec[r.pick(['initContainers', 'ephemeralContainers', 'volumes'])] = r.chance(0.5) ? bad : [bad];
        else pod.spec.containers = [bad, ...((pod.spec.containers as unknown[]) ?? [])];
        return { body: jsonText(review), what: `object with ${target} of a wrong type` };
      },
      () => {
        // Deep nesting, inside the pod or as the whole body.
        const depth = r.pick([100, 1000, 5000, 20_000]);
        const nest = r.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        const review = this.envelope(this.pod(), uid) as { request: { object: { spec: Record<string, unknown> } } };
        if (r.chance(0.5)) return { body: nest, what: `nesting ${depth} deep as the body` };
        review.request.object.spec.deep = new RawJson(nest);
        return { body: jsonText(review), what: `nesting ${depth} deep in the pod spec`, uid };
      },
      () => {
        // Duplicate keys: JSON.parse keeps the last, which may turn a pod review into anything.
        const review = this.envelope(this.pod(), uid);
        const other = this.envelope(this.pod(), `${uid}-dup`);
        const pairs = Object.entries(review);
        const key = r.pick(['apiVersion', 'kind', 'request']);
        pairs.push([key, r.chance(0.5) ? (other as Record<string, unknown>)[key] : r.pick<unknown>([null, 'x', 1])]);
        return { body: jsonText(new Entries(pairs)), what: `duplicate ${key} key`, uid: undefined };
      },
      () => ({ body: good.replace(/"/g, r.chance(0.5) ? "'" : '""'), what: 'quotes mangled' }),
      () => ({ body: good + r.pick(['}', ',', ' garbage', '\u0000', '{}']), what: 'trailing bytes' }),
      () => ({ body: r.pick(['', ' ', '\n', 'null', '{}', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', '{"request":{}}']), what: 'almost empty' }),
    ];
    const chosen = r.pick(variants)();
    return { body: chosen.body, kind: 'malformed', uid: 'uid' in chosen ? chosen.uid : undefined, what: chosen.what };
  }
}

/** The seed from FUZZ_SEED, or a fresh one; printed by the tests so a failure can be replayed. */
export function fuzzSeed(): number {
  const fromEnv = process.env.FUZZ_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`FUZZ_SEED "${fromEnv}": want an integer from 0 to 4294967295`);
    return n;
  }
  return Math.floor(Math.random() * 0x100000000);
}

// ---- what every answer must satisfy ---------------------------------------------------------

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where an injection may change a pod: everything else must be exactly as the pod was sent. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function allowedChange(op: Operation, original: Record<string, any>): boolean {
  const path = op.path;
  const spec = original.spec ?? {};
  const appended = (field: string): boolean => {
    const m = new RegExp(`^/spec/${field}(?:/(\\d+))?$`).exec(path);
    if (!m) return false;
    // A list the pod did not have (absent, or null: JSON for "none") is created whole, as for maps below.
    if (m[1] === undefined) return (op.op === 'add' && spec[field] === undefined) || (op.op === 'replace' && spec[field] === null);
    return op.op === 'add' && Number(m[1]) >= (Array.isArray(spec[field]) ? spec[field].length : 0);
  };
  if (appended('initContainers') || appended('containers') || appended('volumes')) return true;
  if (path === '/metadata') return op.op === 'add' && original.metadata === undefined;
  if (path === '/metadata/annotations' || path === '/metadata/labels') {
    // A map the pod did not have (absent, or null: JSON for "none") is created whole.
    const before = original.metadata?.[path.split('/')[2]!];
    return (op.op === 'add' && before === undefined) || (op.op === 'replace' && before === null);
  }
  if (path === '/metadata/labels/exporter-injector.io~1injected') return op.op === 'add' || op.op === 'replace';
  if (path === '/metadata/annotations/exporter-injector.io~1status') return op.op === 'add';
  // One scrape slot per exporter (port name, scheme, path), for the PodMonitor.
  if (/^\/metadata\/annotations\/metrics\.exporter-injector\.io~1\d+$/.test(path)) return op.op === 'add' || op.op === 'replace';
  return /^\/metadata\/annotations\/prometheus\.io~1[^/]+$/.test(path) && (op.op === 'add' || op.op === 'replace');
}

/** `$(NAME)` references the kubelet would expand: a `(` after an odd run of `$`. */
export function expandedReferences(text: string): string[] {
  return [...text.matchAll(/(\$+)\(([^)]*)\)?/g)].filter((m) => m[1]!.length % 2 === 1).map((m) => `$(${m[2]})`);
}

/**
 * Problems with admit()'s (or the server's) answer to a review that was answered: the uid echoed,
 * the patch applies to the pod that was sent, changes nothing outside the injection, yields a
 * valid Pod when the sent one was valid, carries exactly the rendering of each template with the
 * pod's own parameter values, and no user value makes the kubelet expand a variable.
 */
export function answerProblems(body: string, answer: unknown, registry: Registry): string[] {
  const problems: string[] = [];
  // Fresh copies come from parsing again: structuredClone and JSON.stringify overflow the stack on
  // a pod nested 20,000 deep (which the API server, with its depth limit of 10,000, never sends).
  const sentPod = (): Record<string, any> => (JSON.parse(body) as { request: { object: Record<string, any> } }).request.object;
  const request = (JSON.parse(body) as { request: { uid: string; object?: unknown } }).request;
  if (!isObject(answer) || answer.apiVersion !== 'admission.k8s.io/v1' || answer.kind !== 'AdmissionReview' || !isObject(answer.response)) {
    return [`not an admission.k8s.io/v1 AdmissionReview: ${JSON.stringify(answer).slice(0, 200)}`];
  }
  const response = answer.response as { uid?: unknown; allowed?: unknown; patch?: unknown; patchType?: unknown; warnings?: unknown; status?: unknown };
  if (response.uid !== request.uid) problems.push(`uid ${JSON.stringify(response.uid)} is not the request's ${JSON.stringify(request.uid)}`);
  if (typeof response.allowed !== 'boolean') problems.push('allowed is not a boolean');
  if (response.warnings !== undefined && !(Array.isArray(response.warnings) && response.warnings.every((w) => typeof w === 'string'))) problems.push('warnings are not strings');
  if ((response.patch === undefined) !== (response.patchType === undefined)) problems.push('patch and patchType do not come together');
  if (response.patch === undefined) return problems;
  if (response.patchType !== 'JSONPatch' || typeof response.patch !== 'string' || response.allowed !== true) {
    return [...problems, 'a patch must be a base64 JSONPatch with allowed: true'];
  }
  const original = request.object as Record<string, any>;
  let patch: Operation[];
  let patched: Record<string, any>;
  try {
    patch = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
    // validate: every operation checked; banPrototypeModifications: a __proto__ path is refused.
    // Applied in place to a fresh copy (fast-json-patch's own copy is a JSON round trip).
    patched = jsonPatch.applyPatch(sentPod(), patch, true, true, true).newDocument as Record<string, any>;
  } catch (e) {
    return [...problems, `the patch does not apply to the pod that was sent: ${(e as Error).message}`];
  }
  for (const op of patch) if (!allowedChange(op, original)) problems.push(`the patch changes ${op.op} ${op.path}, outside what an injection may change`);

  const valid = (pod: unknown): string | undefined => {
    try {
      new PodModel(pod as never).validate();
      return undefined;
    } catch (e) {
      return (e as Error).message.slice(0, 300);
    }
  };
  if (valid(sentPod()) === undefined) {
    const why = valid(patched);
    if (why !== undefined) problems.push(`the sent pod was valid, the patched one is not: ${why}`);
  }

  let status: InjectionStatus;
  try {
    status = JSON.parse(patched.metadata.annotations['exporter-injector.io/status']) as InjectionStatus;
  } catch {
    return [...problems, 'the patched pod has no readable exporter-injector.io/status'];
  }
  const annotations = (original.metadata?.annotations ?? {}) as Record<string, string>;
  const injected = [...(patched.spec.initContainers ?? []), ...(patched.spec.containers ?? [])] as Container[];
  for (const entry of status.templates) {
    const template = registry.templates.get(entry.name);
    const container = injected.find((c) => c.name === entry.container);
    if (!template || !container) {
      problems.push(`status names ${entry.name}/${entry.container}, which is not in the registry or the pod`);
      continue;
    }
    const params = new Map<string, string>();
    const prefix = `${PREFIX}${entry.name}.`;
    for (const [key, value] of Object.entries(annotations)) if (key.startsWith(prefix)) params.set(key.slice(prefix.length), value);
    const rendering = renderExporter(template, params, status.sidecar);
    if (!rendering.ok) problems.push(`${entry.name} was injected, but rendering it with the pod's parameters fails: ${rendering.problems.map((p) => p.message).join('; ')}`);
    else if (!isDeepStrictEqual(container, JSON.parse(JSON.stringify(rendering.exporter.container)))) {
      problems.push(`the injected ${entry.container} is not the rendering of ${entry.name} with the pod's parameters`);
    }
    const own = JSON.stringify([template.args, template.env]);
    const texts = [...(container.args ?? []), ...(container.env ?? []).map((e) => e.value ?? '')];
    for (const ref of texts.flatMap(expandedReferences)) {
      if (!own.includes(ref)) problems.push(`the injected ${entry.container} makes the kubelet expand ${ref}, which its template does not use`);
    }
  }
  return problems;
}

/** Own keys of the built-in prototypes, to prove afterwards that nothing was added to them. */
export function prototypeKeys(): string {
  return JSON.stringify(
    [Object.prototype, Array.prototype, Function.prototype, String.prototype, Number.prototype, Boolean.prototype, Error.prototype].map((p) => Reflect.ownKeys(p).map(String).sort()),
  );
}

// A stand-in for a whole small cluster, for `check` and `audit`: the FakeApiServer (webhook
// configurations, Secrets, /version) plus pods listed in pages (limit/continue), namespaces,
// workloads (GET and PATCH, as `kubectl rollout restart` patches them), Services, EndpointSlices
// and Endpoints, and a pod create (dry-run or not) that runs mutating admission the way an API
// server does: each webhook of every stored configuration whose selectors and matchConditions (CEL) select it is called through its Service's
// ready endpoints over TLS trusting only the caBundle (with the real webhook server behind it), its
// JSON patch applied with fast-json-patch, and a failed call handled by the webhook's failurePolicy.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { admit } from '../../src/core/admit.js';
import { DEFAULT_CORE_SETTINGS } from '../../src/core/defaults.js';
import type { Registry } from '../../src/core/types.js';
import { loadRegistry } from '../../src/registry/load.js';
import { buildApp } from '../../src/server/app.js';
import { Current } from '../../src/server/current.js';
import { createLogger } from '../../src/server/logger.js';
import { createMetrics } from '../../src/server/metrics.js';
import { MIN_TLS_VERSION } from '../../src/server/serving-certificate.js';
import { FakeApiServer, status, type RecordedRequest, type Reply } from '../kube/fake-apiserver.js';
import { allTrue } from '../kube/cel.js';
import { ApiServerStandIn } from './api-server-standin.js';

type Json = Record<string, any>;

const POD_LIST = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/pods$/;
const NAMESPACES = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/;
/** Namespaced objects the stand-in stores by path: GET (item), PATCH (item), GET (list with labelSelector). */
const STORED = /^\/(?:api\/v1|apis\/(?:apps|batch|discovery\.k8s\.io)\/v1)\/namespaces\/([^/]+)\/(deployments|replicasets|statefulsets|daemonsets|jobs|cronjobs|services|endpoints|endpointslices)(?:\/([^/]+))?$/;

const API_PATHS: Record<string, string> = {
  Deployment: 'apis/apps/v1:deployments',
  ReplicaSet: 'apis/apps/v1:replicasets',
  StatefulSet: 'apis/apps/v1:statefulsets',
  DaemonSet: 'apis/apps/v1:daemonsets',
  Job: 'apis/batch/v1:jobs',
  CronJob: 'apis/batch/v1:cronjobs',
  Service: 'api/v1:services',
  Endpoints: 'api/v1:endpoints',
  EndpointSlice: 'apis/discovery.k8s.io/v1:endpointslices',
};

export interface ClusterStandInOptions {
  /** Answer the discovery.k8s.io EndpointSlice API with 404, as a server without it would (Endpoints fallback). */
  readonly withoutEndpointSlices?: boolean;
}

export interface RecordedPatch {
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: Json;
}

/** The webhook server the stand-in's Service points at: the real app over TLS. */
export interface WebhookBackend {
  readonly port: number;
  close(): Promise<void>;
}

export class ClusterStandIn {
  /** Pods by namespace/name, kept sorted for paging (the API server lists in key order). */
  #pods: Json[] = [];
  #podsSorted = true;
  readonly #namespaces = new Map<string, Json>();
  readonly #objects = new Map<string, Json>();
  /** Every PATCH the stand-in applied, in order. */
  readonly patches: RecordedPatch[] = [];
  /** Every call to a webhook during a pod create: the webhook's name and the pod's. */
  readonly webhookCalls: { readonly webhook: string; readonly pod: string }[] = [];
  /** limit of every pod list page served, in order. */
  readonly podPages: { limit: number | undefined; continued: boolean; items: number }[] = [];
  #version = 5000;

  private constructor(
    readonly api: FakeApiServer,
    private readonly options: ClusterStandInOptions,
  ) {}

  static async start(options: ClusterStandInOptions = {}): Promise<ClusterStandIn> {
    const api = await FakeApiServer.start();
    const cluster = new ClusterStandIn(api, options);
    api.hooks.push((r) => cluster.route(r));
    return cluster;
  }

  get kubeconfigPath(): string {
    return this.api.kubeconfigPath;
  }

  async stop(): Promise<void> {
    await this.api.stop();
  }

  /** Adds pods (namespace and name required); creationTimestamp defaults to now. */
  addPods(pods: readonly Json[]): void {
    for (const pod of pods) this.#pods.push(this.stamp(structuredClone(pod)));
    this.#podsSorted = false;
  }

  addNamespace(name: string, labels: Record<string, string> = {}): void {
    this.#namespaces.set(name, this.stamp({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } } }));
  }

  /** Stores a namespaced object of a kind in API_PATHS; returns it as stored (uid, resourceVersion). */
  put(object: Json): Json {
    const stored = this.stamp(structuredClone(object));
    this.#objects.set(this.keyOf(object.kind, object.metadata.namespace, object.metadata.name), stored);
    return structuredClone(stored);
  }

  get(kind: string, namespace: string, name: string): Json | undefined {
    const o = this.#objects.get(this.keyOf(kind, namespace, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  delete(kind: string, namespace: string, name: string): void {
    this.#objects.delete(this.keyOf(kind, namespace, name));
  }

  /** Every request the client made, as "METHOD path". */
  calls(): string[] {
    return this.api.calls();
  }

  // ---------------------------------------------------------------------------------------------

  private keyOf(kind: string, namespace: string, name: string): string {
    const where = API_PATHS[kind];
    if (!where) throw new Error(`cluster stand-in: no path for kind ${kind}`);
    const [prefix, resource] = where.split(':') as [string, string];
    return `/${prefix}/namespaces/${namespace}/${resource}/${name}`;
  }

  private stamp(o: Json): Json {
    o.metadata = {
      uid: randomUUID(),
      creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ...o.metadata,
      resourceVersion: this.nextVersion(),
    };
    return o;
  }

  private nextVersion(): string {
    this.#version += 1;
    return String(this.#version);
  }

  private async route(r: RecordedRequest): Promise<Reply | undefined> {
    const pods = POD_LIST.exec(r.path);
    if (pods && r.method === 'GET') return this.listPods(r, pods[1]);
    if (pods && pods[1] !== undefined && r.method === 'POST') return this.createPod(r, pods[1]);
    const ns = NAMESPACES.exec(r.path);
    if (ns && r.method === 'GET') {
      if (ns[1] === undefined) return { status: 200, body: { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: String(this.#version) }, items: [...this.#namespaces.values()] } };
      const found = this.#namespaces.get(ns[1]);
      return found ? { status: 200, body: found } : notFound('namespaces', ns[1]);
    }
    const stored = STORED.exec(r.path);
    if (!stored) return undefined;
    const [, namespace, resource, name] = stored as unknown as [string, string, string, string | undefined];
    if (resource === 'endpointslices' && this.options.withoutEndpointSlices) {
      return { status: 404, body: status(404, 'NotFound', 'the server could not find the requested resource') };
    }
    if (name === undefined) {
      if (r.method !== 'GET') return undefined;
      const selector = parseSelector(r.query.get('labelSelector'));
      const items = [...this.#objects.entries()]
        .filter(([k, o]) => k.startsWith(`${r.path}/`) && matchesLabels(o.metadata.labels ?? {}, selector))
        .map(([, o]) => o);
      return { status: 200, body: { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(this.#version) }, items } };
    }
    const key = `${r.path}`;
    const object = this.#objects.get(key);
    if (!object) return notFound(resource, name);
    if (r.method === 'GET') return { status: 200, body: object };
    if (r.method === 'PATCH') return this.patch(r, key, object, namespace);
    return undefined;
  }

  private patch(r: RecordedRequest, key: string, object: Json, namespace: string): Reply {
    const contentType = r.contentType?.split(';')[0];
    let next: Json;
    if (contentType === 'application/json-patch+json') {
      next = jsonPatch.applyPatch(structuredClone(object), r.body as Operation[], true, false).newDocument;
    } else if (contentType === 'application/merge-patch+json' || contentType === 'application/strategic-merge-patch+json') {
      // For the maps a restart patches (annotations), a strategic merge is a JSON merge patch.
      next = mergePatch(structuredClone(object), r.body);
    } else {
      return { status: 415, body: status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`) };
    }
    const dryRun = r.query.get('dryRun') === 'All';
    if (!dryRun) {
      this.patches.push({ path: r.path, contentType, body: r.body });
      next.metadata.resourceVersion = this.nextVersion();
      next.metadata.generation = (object.metadata.generation ?? 1) + 1;
      next.metadata.namespace = namespace;
      this.#objects.set(key, next);
    }
    return { status: 200, body: next };
  }

  private listPods(r: RecordedRequest, namespace: string | undefined): Reply {
    if (!this.#podsSorted) {
      this.#pods.sort((a, b) => compareKeys(podKey(a), podKey(b)));
      this.#podsSorted = true;
    }
    const all = namespace === undefined ? this.#pods : this.#pods.filter((p) => p.metadata.namespace === namespace);
    const limitText = r.query.get('limit');
    const limit = limitText === null ? undefined : Number(limitText);
    const token = r.query.get('continue');
    let start = 0;
    if (token) {
      // The token names the last key served; the next page starts after it, as etcd's range does.
      let last: string;
      try {
        last = JSON.parse(Buffer.from(token, 'base64').toString('utf8')).after;
      } catch {
        return { status: 400, body: status(400, 'BadRequest', 'continue key is not valid: illegal base64 data') };
      }
      start = all.findIndex((p) => compareKeys(podKey(p), last) > 0);
      if (start === -1) start = all.length;
    }
    const end = limit === undefined || limit <= 0 ? all.length : Math.min(all.length, start + limit);
    const items = all.slice(start, end);
    this.podPages.push({ limit, continued: Boolean(token), items: items.length });
    const more = end < all.length;
    const metadata: Json = { resourceVersion: String(this.#version) };
    if (more) {
      metadata.continue = Buffer.from(JSON.stringify({ after: podKey(items[items.length - 1] as Json) })).toString('base64');
      metadata.remainingItemCount = all.length - end;
    }
    return { status: 200, body: { kind: 'PodList', apiVersion: 'v1', metadata, items } };
  }

  /** POST pods: mutating admission through every matching webhook, then (unless dryRun=All) stored. */
  private async createPod(r: RecordedRequest, namespace: string): Promise<Reply> {
    let pod = structuredClone(r.body) as Json;
    if (pod?.kind !== 'Pod' || typeof pod.metadata?.name !== 'string') {
      return { status: 422, body: status(422, 'Invalid', 'Pod "" is invalid: metadata.name: Required value: name or generateName is required') };
    }
    pod.metadata.namespace = namespace;
    const dryRun = r.query.get('dryRun') === 'All';
    const namespaceLabels = this.#namespaces.get(namespace)?.metadata.labels ?? { 'kubernetes.io/metadata.name': namespace };
    for (const configuration of this.api.mwcs()) {
      for (const webhook of configuration.webhooks ?? []) {
        if (!sendsPodCreates(webhook)) continue;
        if (!matchesSelector(namespaceLabels, webhook.namespaceSelector)) continue;
        if (!matchesSelector(pod.metadata.labels ?? {}, webhook.objectSelector)) continue;
        // matchConditions (CEL) are evaluated by a real CEL engine; all true, or the webhook is not called.
        const request = { operation: 'CREATE', namespace, kind: { group: '', version: 'v1', kind: 'Pod' }, dryRun };
        if (webhook.matchConditions?.length && !allTrue(webhook.matchConditions, { object: pod, request })) continue;
        this.webhookCalls.push({ webhook: webhook.name, pod: pod.metadata.name });
        const result = await this.callWebhook(webhook, pod, namespace, dryRun);
        if ('failure' in result) {
          if (webhook.failurePolicy === 'Ignore') continue;
          return { status: 500, body: status(500, 'InternalError', `Internal error occurred: failed calling webhook "${webhook.name}": ${result.failure}`) };
        }
        if ('denied' in result) {
          return { status: result.code, body: status(result.code, 'Forbidden', `admission webhook "${webhook.name}" denied the request: ${result.denied}`) };
        }
        pod = result.pod;
      }
    }
    pod.metadata.uid = randomUUID();
    pod.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (!dryRun) this.addPods([pod]);
    return { status: 201, body: pod };
  }

  private async callWebhook(webhook: Json, pod: Json, namespace: string, dryRun: boolean): Promise<{ pod: Json } | { failure: string } | { denied: string; code: number }> {
    const ref = webhook.clientConfig?.service;
    const url = `https://${ref?.name}.${ref?.namespace}.svc:${ref?.port ?? 443}${ref?.path ?? ''}`;
    const failed = (why: string) => ({ failure: `failed to call webhook: Post "${url}?timeout=${webhook.timeoutSeconds ?? 10}s": ${why}` });
    if (!ref) return failed('no service reference');
    const service = this.#objects.get(this.keyOf('Service', ref.namespace, ref.name));
    if (!service) return failed(`service "${ref.name}" not found`);
    const port = this.readyEndpointPort(service, ref.port ?? 443);
    if (port === undefined) return failed(`no endpoints available for service "${ref.name}"`);
    const caBundle = webhook.clientConfig.caBundle === undefined ? '' : Buffer.from(webhook.clientConfig.caBundle, 'base64').toString('utf8');
    const caller = new ApiServerStandIn({ port, caCert: caBundle, path: ref.path ?? '/', servername: `${ref.name}.${ref.namespace}.svc`, maxSockets: 1 });
    try {
      const answer = await caller.review(pod, { namespace, dryRun });
      if (!answer.allowed) return { denied: answer.status?.message ?? '', code: answer.status?.code ?? 403 };
      return { pod: answer.pod as Json };
    } catch (e) {
      return failed(e instanceof Error ? ((e as NodeJS.ErrnoException).code ?? e.message) : String(e));
    } finally {
      caller.close();
    }
  }

  /** The target port of a ready endpoint behind the Service port, from EndpointSlices (or Endpoints). */
  private readyEndpointPort(service: Json, servicePort: number): number | undefined {
    const portSpec = (service.spec?.ports ?? []).find((p: Json) => p.port === servicePort);
    if (!portSpec) return undefined;
    const { namespace, name } = service.metadata;
    const slices = [...this.#objects.entries()]
      .filter(([k, o]) => k.startsWith(`/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices/`) && o.metadata.labels?.['kubernetes.io/service-name'] === name)
      .map(([, o]) => o);
    for (const slice of slices) {
      const ready = (slice.endpoints ?? []).some((e: Json) => e.conditions?.ready !== false);
      const port = (slice.ports ?? []).find((p: Json) => p.name === portSpec.name);
      if (ready && port) return port.port;
    }
    return undefined;
  }
}

/**
 * The real webhook app (buildApp) over TLS on 127.0.0.1, as the Service's endpoint. `transform`
 * changes the core's answer (a webhook that answers without a patch).
 */
export async function startWebhookBackend(
  pair: { cert: string; key: string },
  options: { registry?: Registry; transform?: (result: ReturnType<typeof admit>) => ReturnType<typeof admit> } = {},
): Promise<WebhookBackend> {
  const registry = options.registry ?? (await loadRegistry());
  const transform = options.transform;
  const app: FastifyInstance = buildApp({
    registry: new Current(registry),
    settings: DEFAULT_CORE_SETTINGS,
    path: '/mutate',
    bodyLimit: 1024 * 1024,
    logger: createLogger('silent'),
    metrics: createMetrics({ processMetrics: false }),
    https: { cert: pair.cert, key: pair.key, minVersion: MIN_TLS_VERSION },
    ...(transform ? { admit: (body, reg, settings) => transform(admit(body, reg, settings)) } : {}),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
}

/** The objects deploy/base installs around the webhook, pointing the Service at `port` on 127.0.0.1. */
export function webhookInstallation(options: { port: number; namespace?: string; name?: string; secret?: string; replicas?: number; readyReplicas?: number; readyEndpoints?: boolean }): Json[] {
  const namespace = options.namespace ?? 'exporter-injector';
  const name = options.name ?? 'exporter-injector';
  const labels = { 'app.kubernetes.io/name': 'exporter-injector', 'app.kubernetes.io/component': 'webhook' };
  const replicas = options.replicas ?? 2;
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace, labels, generation: 1 },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [{ name: 'webhook', image: 'exporter-injector:0.1.0', volumeMounts: [{ name: 'tls', mountPath: '/etc/exporter-injector/tls', readOnly: true }] }],
            volumes: [
              { name: 'tls', secret: { secretName: options.secret ?? 'exporter-injector-tls', defaultMode: 288 } },
              { name: 'templates', configMap: { name: 'exporter-injector-templates' } },
            ],
          },
        },
      },
      status: { observedGeneration: 1, replicas, readyReplicas: options.readyReplicas ?? replicas, availableReplicas: options.readyReplicas ?? replicas, updatedReplicas: replicas },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels },
      spec: {
        selector: labels,
        ports: [
          { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' },
          { name: 'http-metrics', port: 8080, targetPort: 'http-metrics', protocol: 'TCP' },
        ],
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-abcde`, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: options.readyEndpoints ?? true } }],
      ports: [
        { name: 'https', port: options.port, protocol: 'TCP' },
        { name: 'http-metrics', port: 8080, protocol: 'TCP' },
      ],
    },
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace, labels },
      subsets:
        options.readyEndpoints === false
          ? [{ notReadyAddresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: options.port }] }]
          : [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: options.port }] }],
    },
  ];
}

// ---------------------------------------------------------------------------------------------

function podKey(p: Json): string {
  return `${p.metadata.namespace}/${p.metadata.name}`;
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function notFound(resource: string, name: string): Reply {
  return { status: 404, body: status(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource }) };
}

function sendsPodCreates(webhook: Json): boolean {
  return (webhook.rules ?? []).some(
    (rule: Json) =>
      (rule.resources ?? []).some((r: string) => r === 'pods' || r === '*') &&
      (rule.operations ?? []).some((o: string) => o === 'CREATE' || o === '*') &&
      (rule.apiGroups ?? []).some((g: string) => g === '' || g === '*'),
  );
}

/** metav1.LabelSelector semantics: all matchLabels and all matchExpressions hold; empty matches everything. */
function matchesSelector(labels: Record<string, string>, selector: Json | undefined): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    if (e.operator === 'In' && !(has && e.values.includes(value))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(value)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** `a=b,c=d` label selectors (equality only: what the clients here send). */
function parseSelector(text: string | null): Record<string, string> {
  if (!text) return {};
  return Object.fromEntries(text.split(',').map((part) => part.split('=') as [string, string]));
}

function matchesLabels(labels: Record<string, string>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => labels[k] === v);
}

function mergePatch(target: Json, patch: Json): Json {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === 'object' && !Array.isArray(v)) target[k] = mergePatch(typeof target[k] === 'object' && target[k] !== null && !Array.isArray(target[k]) ? target[k] : {}, v);
    else target[k] = v;
  }
  return target;
}

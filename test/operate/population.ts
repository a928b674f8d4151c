// A cluster population for `audit`: thousands of healthy pods (injected from the current templates, or not
// opted in) owned through ReplicaSets by Deployments, and a few planted ones that missed injection or drifted,
// each for a known reason, with the owner chain (ReplicaSet -> Deployment, Job -> CronJob) in the stand-in.
import jsonPatch, { type Operation } from 'fast-json-patch';
import { admit } from '../../src/core/admit.js';
import { DEFAULT_CORE_SETTINGS } from '../../src/core/defaults.js';
import { syntheticReview } from '../../src/core/review.js';
import type { Pod, Registry } from '../../src/core/types.js';
import type { ClusterStandIn } from '../helpers/cluster-standin.js';

type Json = Record<string, any>;

const OLD = '2020-01-01T00:00:00Z';

/** What the webhook makes of a pod that opts in to `template` with today's registry. */
export function injected(registry: Registry, template: string, annotations: Record<string, string> = {}): Json {
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'x', namespace: 'shop', annotations: { 'exporter-injector.io/inject': template, ...annotations } },
    spec: { containers: [{ name: 'app', image: `${template}:latest` }] },
  };
  const result = admit(syntheticReview(pod, 'shop'), registry, DEFAULT_CORE_SETTINGS);
  if (result.outcome.decision !== 'injected') throw new Error(`population: ${template} was not injected: ${result.outcome.reason}`);
  return jsonPatch.applyPatch(structuredClone(pod) as Json, result.patch as Operation[], false, false).newDocument;
}

/** The status annotation with the template's version and hash as an older release would have written them. */
export function olderStatus(status: string): string {
  const parsed = JSON.parse(status) as { templates: { version: string; hash: string }[] };
  for (const t of parsed.templates) {
    t.version = '0.0.1';
    t.hash = 'sha256:0000000000000000';
  }
  return JSON.stringify(parsed);
}

function ownerRef(kind: string, name: string): Json {
  const apiVersion = kind === 'Job' || kind === 'CronJob' ? 'batch/v1' : 'apps/v1';
  return { apiVersion, kind, name, uid: `${kind}-${name}`, controller: true, blockOwnerDeletion: true };
}

function pod(namespace: string, name: string, owner: Json | undefined, from: Json, extra: { created?: string; phase?: string; annotations?: Record<string, string>; labels?: Record<string, string> } = {}): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      ...(extra.created ? { creationTimestamp: extra.created } : {}),
      labels: { ...from.metadata.labels, ...extra.labels },
      annotations: { ...from.metadata.annotations, ...extra.annotations },
      ...(owner ? { ownerReferences: [owner] } : {}),
    },
    spec: from.spec,
    status: { phase: extra.phase ?? 'Running' },
  };
}

/** A Deployment with one ReplicaSet (hash suffix) and `replicas` pods made from `from`. */
function deployment(cluster: ClusterStandIn, namespace: string, name: string, from: Json, replicas: number, extra: Parameters<typeof pod>[4] = {}): Json[] {
  const rs = `${name}-5d8f7c9b4`;
  cluster.put({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace }, spec: { replicas, template: { metadata: { labels: { app: name } }, spec: from.spec } } });
  cluster.put({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: rs, namespace, ownerReferences: [ownerRef('Deployment', name)] }, spec: { replicas } });
  return Array.from({ length: replicas }, (_, i) => pod(namespace, `${rs}-${String(i).padStart(5, '0')}`, ownerRef('ReplicaSet', rs), from, extra));
}

export interface Planted {
  /** workload ref "kind/namespace/name" -> pods planted in it */
  readonly missing: Record<string, string[]>;
  readonly drifted: Record<string, string[]>;
  /** Drifted only against a registry with a newer memcached template. */
  readonly driftedWithTemplates: Record<string, string[]>;
  /** Patch paths --restart must send: the workloads whose cause is gone (not db, node-agent: theirs remains). */
  readonly restartPaths: string[];
}

/**
 * Seeds `healthy` healthy pods (two thirds injected with redis from the current registry, a third never opted
 * in) plus the planted findings; returns what was planted.
 */
export function populate(cluster: ClusterStandIn, registry: Registry, healthy: number): Planted {
  for (const ns of ['shop', 'web', 'batch', 'tools']) cluster.addNamespace(ns);
  const redis = injected(registry, 'redis');
  const plain = { metadata: { labels: {}, annotations: {} }, spec: { containers: [{ name: 'app', image: 'busybox:1.36' }] } };
  const optedIn = { metadata: { labels: {}, annotations: { 'exporter-injector.io/inject': 'redis' } }, spec: { containers: [{ name: 'redis', image: 'redis:7.4' }] } };
  const pods: Json[] = [];

  // Healthy: Deployments of 50 pods, alternating injected and not opted in, in two namespaces.
  for (let made = 0, d = 0; made < healthy; d++) {
    const count = Math.min(50, healthy - made);
    pods.push(...deployment(cluster, d % 2 === 0 ? 'shop' : 'web', `api-${d}`, d % 3 === 2 ? plain : redis, count));
    made += count;
  }
  // Opted in, never injected, but finished: nothing runs without its exporter, so not a finding.
  pods.push(pod('batch', 'migrate-once-x7k2p', undefined, optedIn, { phase: 'Succeeded' }));

  // Missing: created before the webhook configuration existed (Deployment via its ReplicaSet).
  const cache = deployment(cluster, 'shop', 'cache', optedIn, 3, { created: OLD });
  // Missing: policy optional, and the opt-in has a problem (an unknown parameter), so it was admitted unchanged.
  cluster.put({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'shop' }, spec: { template: {} } });
  const db = [0, 1].map((i) =>
    pod('shop', `db-${i}`, ownerRef('StatefulSet', 'db'), optedIn, { annotations: { 'exporter-injector.io/policy': 'optional', 'exporter-injector.io/redis.bogus': 'x' } }),
  );
  // Missing: in the webhook's own namespace, which the namespaceSelector excludes (a DaemonSet).
  cluster.put({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'node-agent', namespace: 'exporter-injector' }, spec: { template: {} } });
  const agent = ['node-agent-q8x2m', 'node-agent-z4c7v'].map((n) => pod('exporter-injector', n, ownerRef('DaemonSet', 'node-agent'), optedIn));
  // Missing: a bare pod, for no reason visible in the cluster (the webhook did not answer).
  const debug = pod('tools', 'debug', undefined, optedIn);

  // Drifted: injected by an older redis template (a CronJob's Job's pod).
  cluster.put({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: 'batch' }, spec: { jobTemplate: { spec: { template: {} } } } });
  cluster.put({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'nightly-29001', namespace: 'batch', ownerReferences: [ownerRef('CronJob', 'nightly')] }, spec: {} });
  const old = olderStatus(redis.metadata.annotations['exporter-injector.io/status']);
  const nightly = pod('batch', 'nightly-29001-m2k4s', ownerRef('Job', 'nightly-29001'), redis, { annotations: { 'exporter-injector.io/status': old } });
  // Drifted, in a Deployment with healthy pods beside it (a rollout in progress).
  const mixed = deployment(cluster, 'web', 'front', redis, 4);
  mixed[0]!.metadata.annotations['exporter-injector.io/status'] = old;

  // Healthy with the built-ins; drifted once --templates replaces memcached with a newer version.
  const sessions = deployment(cluster, 'web', 'sessions', injected(registry, 'memcached'), 2);

  pods.push(...cache, ...db, ...agent, debug, nightly, ...mixed, ...sessions);
  cluster.addPods(pods);
  return {
    missing: {
      'Deployment/shop/cache': cache.map((p) => p.metadata.name),
      'StatefulSet/shop/db': db.map((p) => p.metadata.name),
      'DaemonSet/exporter-injector/node-agent': agent.map((p) => p.metadata.name),
      'Pod/tools/debug': ['debug'],
    },
    drifted: {
      'CronJob/batch/nightly': [nightly.metadata.name],
      'Deployment/web/front': [mixed[0]!.metadata.name],
    },
    driftedWithTemplates: { 'Deployment/web/sessions': sessions.map((p) => p.metadata.name) },
    restartPaths: [
      '/apis/apps/v1/namespaces/shop/deployments/cache',
      '/apis/batch/v1/namespaces/batch/cronjobs/nightly',
      '/apis/apps/v1/namespaces/web/deployments/front',
    ].sort(),
  };
}

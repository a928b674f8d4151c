// Finds the pod templates inside manifests (Pod, Deployment, ..., CronJob, List) so the dry-run CLI
// can run each through the same core as the webhook, and writes the result back in place.
import { isJsonObject, type JsonObject } from '../core/json.js';
import type { Pod } from '../core/types.js';

/**
 * Where a workload's pod template lives: `spec.template` for Deployment, StatefulSet, DaemonSet,
 * ReplicaSet, ReplicationController, Job and every other kind that follows the convention (Argo
 * Rollout, OpenShift DeploymentConfig, ...); CronJob nests it in its job template.
 */
const TEMPLATE_PATHS: readonly (readonly string[])[] = [
  ['spec', 'template'],
  ['spec', 'jobTemplate', 'spec', 'template'],
];

export interface PodSite {
  /** `Deployment default/redis`, for messages. */
  readonly label: string;
  readonly kind: string;
  readonly namespace: string;
  /** The pod as the API server would see it when the controller creates one. */
  readonly pod: Pod;
  /** Writes a mutated pod back into the manifest. */
  readonly write: (mutated: Pod) => void;
}

function dig(object: JsonObject, path: readonly string[]): JsonObject | undefined {
  let at: unknown = object;
  for (const key of path) at = isJsonObject(at) ? at[key] : undefined;
  return isJsonObject(at) ? at : undefined;
}

/** Every pod site in one document; a List is walked item by item; unknown kinds yield nothing. */
export function podSites(doc: unknown, defaultNamespace: string): PodSite[] {
  if (!isJsonObject(doc)) return [];
  const kind = typeof doc.kind === 'string' ? doc.kind : '';
  if (kind === 'List' || (kind.endsWith('List') && Array.isArray(doc.items))) {
    return (Array.isArray(doc.items) ? doc.items : []).flatMap((item) => podSites(item, defaultNamespace));
  }
  const metadata = isJsonObject(doc.metadata) ? doc.metadata : {};
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : defaultNamespace;
  const name = typeof metadata.name === 'string' ? metadata.name : typeof metadata.generateName === 'string' ? `${metadata.generateName}*` : '(unnamed)';
  const label = `${kind} ${namespace}/${name}`;

  if (kind === 'Pod' && (doc.apiVersion === 'v1' || doc.apiVersion === undefined)) {
    return [{ label, kind, namespace, pod: doc as Pod, write: (mutated) => Object.assign(doc, mutated) }];
  }
  const template = podTemplateOf(doc);
  if (!template) return [];
  const templateMetadata = isJsonObject(template.metadata) ? template.metadata : {};
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...templateMetadata, namespace }, spec: template.spec } as Pod;
  return [
    {
      label,
      kind,
      namespace,
      pod,
      write: (mutated) => {
        const { namespace: _, ...rest } = mutated.metadata ?? {};
        template.metadata = rest;
        template.spec = mutated.spec;
      },
    },
  ];
}

/** The pod template of a workload of any kind: a map with a pod spec (containers) at a known path. */
function podTemplateOf(doc: JsonObject): JsonObject | undefined {
  for (const path of TEMPLATE_PATHS) {
    const template = dig(doc, path);
    if (template && isJsonObject(template.spec) && Array.isArray(template.spec.containers)) return template;
  }
  return undefined;
}

/**
 * When the opt-in annotation sits on an object's own metadata, where the webhook never sees it (the
 * most common mistake: on the Deployment instead of its pod template), says where it belongs.
 */
export function misplacedOptIn(doc: unknown, injectKey: string): string | undefined {
  if (!isJsonObject(doc) || doc.kind === 'Pod') return undefined;
  const own = isJsonObject(doc.metadata) && isJsonObject(doc.metadata.annotations) ? doc.metadata.annotations : undefined;
  if (own?.[injectKey] === undefined) return undefined;
  const kind = typeof doc.kind === 'string' ? doc.kind : 'object';
  const template = podTemplateOf(doc);
  if (!template) {
    return `${injectKey} is on the ${kind}'s own metadata, but a ${kind} has no pod template (spec.template): the webhook only injects Pods, and the pods that workloads create from their template`;
  }
  const templateAnnotations = isJsonObject(template.metadata) && isJsonObject(template.metadata.annotations) ? template.metadata.annotations : undefined;
  if (templateAnnotations?.[injectKey] !== undefined) return undefined;
  const where = kind === 'CronJob' ? 'spec.jobTemplate.spec.template.metadata.annotations' : 'spec.template.metadata.annotations';
  return `${injectKey} is on the ${kind}'s own metadata, which the webhook never sees: it reads the pods the ${kind} creates; move the annotation to ${where}`;
}

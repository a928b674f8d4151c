// Finds the pod templates inside manifests (Pod, Deployment, ..., CronJob, List) so the dry-run CLI
// can run each through the same core as the webhook, and writes the result back in place.
import type { Pod } from '../core/types.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where, inside a workload of a kind, its pod template lives. */
const TEMPLATE_PATH: Record<string, readonly string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

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

function dig(object: Json, path: readonly string[]): Json | undefined {
  let at: unknown = object;
  for (const key of path) at = isObject(at) ? at[key] : undefined;
  return isObject(at) ? at : undefined;
}

/** Every pod site in one document; a List is walked item by item; unknown kinds yield nothing. */
export function podSites(doc: unknown, defaultNamespace: string): PodSite[] {
  if (!isObject(doc)) return [];
  const kind = typeof doc.kind === 'string' ? doc.kind : '';
  if (kind === 'List' || (kind.endsWith('List') && Array.isArray(doc.items))) {
    return (Array.isArray(doc.items) ? doc.items : []).flatMap((item) => podSites(item, defaultNamespace));
  }
  const metadata = isObject(doc.metadata) ? doc.metadata : {};
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : defaultNamespace;
  const name = typeof metadata.name === 'string' ? metadata.name : typeof metadata.generateName === 'string' ? `${metadata.generateName}*` : '(unnamed)';
  const label = `${kind} ${namespace}/${name}`;

  if (kind === 'Pod' && (doc.apiVersion === 'v1' || doc.apiVersion === undefined)) {
    return [{ label, kind, namespace, pod: doc as Pod, write: (mutated) => Object.assign(doc, mutated) }];
  }
  const path = TEMPLATE_PATH[kind];
  const template = path && dig(doc, path);
  if (!template) return [];
  const templateMetadata = isObject(template.metadata) ? template.metadata : {};
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

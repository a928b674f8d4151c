// kube edge, part of `check`: the end-to-end proof. A server-side dry-run create (dryRun=All: admission runs,
// nothing is stored; allowed because the webhook declares sideEffects None) of a pod that opts in, and of
// one that does not, shows API server -> Service -> TLS -> webhook -> patch working in this cluster.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { ANNOTATION, INJECTED_LABEL } from '../core/annotations.js';
import type { InjectionStatus } from '../core/status.js';
import { LABEL_GATE_KEY } from './webhook-config.js';
import { toKubeError } from './api-error.js';

/** A built-in template every installation has. */
export const PROBE_TEMPLATE = 'redis';

export type ProbeResult =
  | { readonly outcome: 'created'; readonly sent: V1Pod; readonly returned: V1Pod }
  | { readonly outcome: 'refused'; readonly message: string };

/**
 * A pod that passes the restricted Pod Security Standard (so an enforcing namespace does not refuse the
 * probe) and carries the label gate's label (so a gated webhook is asked too).
 */
export function probePod(optIn: boolean): V1Pod {
  const suffix = randomBytes(3).toString('hex');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `exporter-injector-check-${optIn ? 'inject' : 'skip'}-${suffix}`,
      labels: { 'app.kubernetes.io/name': 'exporter-injector-check', [LABEL_GATE_KEY]: 'true' },
      annotations: optIn ? { [ANNOTATION.inject]: PROBE_TEMPLATE } : { 'exporter-injector.io/check': 'no opt-in' },
    },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'redis',
          image: 'redis:7.4',
          ports: [{ name: 'redis', containerPort: 6379 }],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}

/** Sends the pod as a dry-run create; a refusal (webhook failure with Fail, denial, PSA) is a result, not an error. */
export async function dryRunCreate(kc: KubeConfig, namespace: string, pod: V1Pod): Promise<ProbeResult> {
  const api = kc.makeApiClient(CoreV1Api);
  try {
    const returned = await api.createNamespacedPod({ namespace, body: pod, dryRun: 'All' });
    return { outcome: 'created', sent: pod, returned };
  } catch (e) {
    return { outcome: 'refused', message: toKubeError(e, `dry-run create pods/${pod.metadata?.name} in namespace ${namespace}`).message };
  }
}

/** Names of the containers and init containers of a pod. */
function containerNames(p: V1Pod): string[] {
  return [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].map((c) => c.name);
}

/**
 * What our injection left on the returned pod: the exporter containers its status annotation names (other
 * webhooks, a service mesh, may add containers of their own), and whether that annotation is there.
 */
export function injectedExporters(returned: V1Pod): { readonly status: boolean; readonly named: readonly string[]; readonly present: readonly string[] } {
  const raw = returned.metadata?.annotations?.[ANNOTATION.status];
  if (raw === undefined) return { status: false, named: [], present: [] };
  let named: string[] = [];
  try {
    const status = JSON.parse(raw) as Partial<InjectionStatus>;
    named = Array.isArray(status.templates) ? status.templates.map((t) => t.container) : [];
  } catch {
    named = [];
  }
  const have = new Set(containerNames(returned));
  return { status: true, named, present: named.filter((n) => have.has(n)) };
}

/** Our marks on a pod that did not opt in (the status annotation, the injected label): there should be none. */
export function injectionMarks(returned: V1Pod): string[] {
  const marks: string[] = [];
  if (returned.metadata?.annotations?.[ANNOTATION.status] !== undefined) marks.push(`annotation ${ANNOTATION.status}`);
  if (returned.metadata?.labels?.[INJECTED_LABEL] !== undefined) marks.push(`label ${INJECTED_LABEL}`);
  return marks;
}

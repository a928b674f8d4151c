// kube edge, part of `check`: the admission objects in the cluster against what `register` would write.
import { isDeepStrictEqual } from 'node:util';
import { AdmissionregistrationV1Api, type KubeConfig, type V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import type { ClusterVersion } from './cluster-version.js';
import { httpStatusOf, toKubeError } from './api-error.js';
import { droppedMatchConditions, mergeWebhookConfiguration, plain, show } from './register.js';
import { desiredAdmissionObjects, droppedMatchConditionsNotice, withoutMatchConditions } from './admission-objects.js';
import type { WebhookOptions } from './webhook-config.js';

/** An object register writes: the MutatingWebhookConfiguration (and, where the builder adds them, policy objects). */
export interface AdmissionObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/**
 * The admission objects in the cluster against what register writes there. register falls back to the
 * legacy webhook shape on a server that drops matchConditions (the feature gate off on 1.28/1.29); when the
 * cluster's configuration has none, a server-side dry-run create (nothing is stored) tells whether that
 * fallback is what register would write, and `notice` then says so. If the dry run cannot be made (no
 * create permission), the objects are compared with the version's shape, as without the fallback.
 */
export async function compareWithRegister(kc: KubeConfig, options: WebhookOptions, version: ClusterVersion, where: string): Promise<{ states: ObjectState[]; notice?: string }> {
  const partial = { ...options, caBundle: undefined };
  const desired = desiredAdmissionObjects(partial, version);
  const states = await compareAdmissionObjects(kc, desired.objects as AdmissionObject[], where);
  const existing = states[0]?.existing as V1MutatingWebhookConfiguration | undefined;
  const withoutConditions = existing !== undefined && (existing.webhooks ?? []).every((w) => (w.matchConditions ?? []).length === 0);
  if (desired.shape !== 'match-conditions' || !withoutConditions) return { states };
  if (!(await dropsMatchConditions(kc, desired.webhookConfiguration))) return { states };
  const legacy = withoutMatchConditions(desired, partial);
  return { states: await compareAdmissionObjects(kc, legacy.objects as AdmissionObject[], where), notice: droppedMatchConditionsNotice(where) };
}

/** Whether the API server drops the matchConditions of this configuration; false when it cannot be told. */
async function dropsMatchConditions(kc: KubeConfig, configuration: V1MutatingWebhookConfiguration): Promise<boolean> {
  const body = { ...configuration, metadata: { name: `${configuration.metadata?.name ?? 'exporter-injector'}-check-dry-run` } };
  try {
    const answer = await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body, dryRun: 'All' });
    return droppedMatchConditions(answer);
  } catch {
    return false;
  }
}

/** Per kind: the check's id, and what the cluster lacks without the object. */
export const OBJECT_ROLES: Readonly<Record<string, { readonly id: string; readonly missing: string }>> = {
  MutatingWebhookConfiguration: { id: 'configuration', missing: 'the API server calls no webhook' },
  ValidatingAdmissionPolicy: { id: 'policy', missing: 'opted-in pods admitted without injection are not flagged at admission (audit still finds them)' },
  ValidatingAdmissionPolicyBinding: { id: 'policy-binding', missing: 'the final-state policy is not applied' },
};

export interface ObjectState {
  readonly ref: string;
  readonly desired: AdmissionObject;
  /** Undefined when the object does not exist. */
  readonly existing: AdmissionObject | undefined;
  /** What register would change, one line a field; empty when equal. */
  readonly differences: readonly string[];
}

/** Reads each desired object and lists what differs from it. */
export async function compareAdmissionObjects(kc: KubeConfig, desired: readonly AdmissionObject[], where: string): Promise<ObjectState[]> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const states: ObjectState[] = [];
  for (const want of desired) {
    const name = want.metadata?.name ?? '';
    const reader = READERS[want.kind ?? ''];
    if (!reader) throw new Error(`check: no reader for kind ${want.kind}`);
    const ref = `${(want.kind ?? '').toLowerCase()}/${name}`;
    let existing: AdmissionObject | undefined;
    try {
      existing = (await reader(api, name)) as unknown as AdmissionObject;
    } catch (e) {
      if (httpStatusOf(e) !== 404) throw toKubeError(e, `read ${ref} at ${where}`);
    }
    states.push({ ref, desired: want, existing, differences: existing === undefined ? [] : differences(existing, want) });
  }
  return states;
}

const READERS: Record<string, (api: AdmissionregistrationV1Api, name: string) => Promise<unknown>> = {
  MutatingWebhookConfiguration: (api, name) => api.readMutatingWebhookConfiguration({ name }),
  ValidatingAdmissionPolicy: (api, name) => api.readValidatingAdmissionPolicy({ name }),
  ValidatingAdmissionPolicyBinding: (api, name) => api.readValidatingAdmissionPolicyBinding({ name }),
};

/**
 * For the webhook configuration: exactly what register's merge would change (one home for "owned fields").
 * For other objects: every field the builder sets that the cluster's object does not have equal.
 */
function differences(existing: AdmissionObject, desired: AdmissionObject): string[] {
  if (desired.kind === 'MutatingWebhookConfiguration') {
    return mergeWebhookConfiguration(existing as V1MutatingWebhookConfiguration, desired as V1MutatingWebhookConfiguration).changes;
  }
  const out: string[] = [];
  walk(plain(existing), plain(desired), '', out);
  return out.filter((line) => !line.startsWith('apiVersion') && !line.startsWith('kind'));
}

function walk(have: unknown, want: unknown, path: string, out: string[]): void {
  if (want !== null && typeof want === 'object' && !Array.isArray(want) && have !== null && typeof have === 'object' && !Array.isArray(have)) {
    for (const [key, value] of Object.entries(want)) walk((have as Record<string, unknown>)[key], value, path === '' ? key : `${path}.${key}`, out);
    return;
  }
  if (!isDeepStrictEqual(have, want)) out.push(`${path}: ${show(have)} -> ${show(want)}`);
}


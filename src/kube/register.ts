// kube edge: create-or-update / delete the MutatingWebhookConfiguration through the API server.
import { isDeepStrictEqual } from 'node:util';
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  type V1LabelSelector,
  type V1MutatingWebhook,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { InjectorError } from '../errors.js';
import { httpStatusOf, statusReasonOf, toKubeError } from './api-error.js';
import { serverOf } from './kubeconfig.js';

export const FIELD_MANAGER = 'exporter-injector';
const DEFAULT_MAX_ATTEMPTS = 5;

export type RegisterResult =
  | { readonly action: 'created'; readonly name: string; readonly changes: readonly string[] }
  | { readonly action: 'updated'; readonly name: string; readonly changes: readonly string[] }
  | { readonly action: 'unchanged'; readonly name: string; readonly changes: readonly string[] };

export interface UnregisterResult {
  readonly action: 'deleted' | 'absent';
  readonly name: string;
}

/** The webhook fields `register` owns; everything else on the object and its other webhooks is kept. */
const OWNED_WEBHOOK_FIELDS = [
  'rules',
  'namespaceSelector',
  'objectSelector',
  'failurePolicy',
  'matchPolicy',
  'sideEffects',
  'timeoutSeconds',
  'reinvocationPolicy',
  'admissionReviewVersions',
] as const satisfies readonly (keyof V1MutatingWebhook)[];

/**
 * Creates the object, or merges `desired` (labels and its one webhook) into the existing one and replaces
 * it under the resourceVersion just read. A 409 (another writer got in between) re-reads and retries.
 */
export async function registerWebhook(
  kc: KubeConfig,
  desired: V1MutatingWebhookConfiguration,
  options: { readonly maxAttempts?: number } = {},
): Promise<RegisterResult> {
  const name = desired.metadata?.name;
  if (!name) throw new InjectorError('EI_ERR_INTERNAL', 'registerWebhook: desired object has no metadata.name');
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const where = `mutatingwebhookconfigurations/${name} at ${serverOf(kc)}`;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const existing = await readOrUndefined(api, name, where);
    if (existing === undefined) {
      try {
        await api.createMutatingWebhookConfiguration({ body: desired, fieldManager: FIELD_MANAGER });
        return { action: 'created', name, changes: [] };
      } catch (e) {
        // Someone created it since our read: update theirs on the next round.
        if (httpStatusOf(e) === 409) continue;
        throw toKubeError(e, `create ${where}`);
      }
    }
    const { merged, changes } = mergeWebhookConfiguration(existing, desired);
    if (changes.length === 0) return { action: 'unchanged', name, changes };
    try {
      await api.replaceMutatingWebhookConfiguration({ name, body: merged, fieldManager: FIELD_MANAGER });
      return { action: 'updated', name, changes };
    } catch (e) {
      if (httpStatusOf(e) === 409 && statusReasonOf(e) !== 'AlreadyExists') continue;
      throw toKubeError(e, `update ${where}`);
    }
  }
  throw new InjectorError(
    'EI_ERR_KUBE_API',
    `cannot update ${where}: HTTP 409: the object kept changing under us (${maxAttempts} attempts); run register again`,
  );
}

/** Deletes the object; already absent (404) is a success, so unregister is idempotent. */
export async function unregisterWebhook(kc: KubeConfig, name: string): Promise<UnregisterResult> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  try {
    await api.deleteMutatingWebhookConfiguration({ name });
    return { action: 'deleted', name };
  } catch (e) {
    if (httpStatusOf(e) === 404) return { action: 'absent', name };
    throw toKubeError(e, `delete mutatingwebhookconfigurations/${name} at ${serverOf(kc)}`);
  }
}

async function readOrUndefined(api: AdmissionregistrationV1Api, name: string, where: string): Promise<V1MutatingWebhookConfiguration | undefined> {
  try {
    return await api.readMutatingWebhookConfiguration({ name });
  } catch (e) {
    if (httpStatusOf(e) === 404) return undefined;
    throw toKubeError(e, `read ${where}`);
  }
}

/**
 * Pure: `existing` with our labels and our webhook (by name) set from `desired`; its annotations, other labels,
 * other webhooks and the fields of our webhook we do not own (matchConditions, ...) stay as they are.
 * `changes` lists what differs, in the API server's terms (defaults applied), so a re-run reports nothing.
 */
export function mergeWebhookConfiguration(
  existing: V1MutatingWebhookConfiguration,
  desired: V1MutatingWebhookConfiguration,
): { merged: V1MutatingWebhookConfiguration; changes: string[] } {
  // structuredClone keeps Date fields, which client-node's serializer expects as Dates.
  const merged = structuredClone(existing);
  const changes: string[] = [];
  // Sent back as read they could only go stale; omitted, the server keeps them.
  if (merged.metadata) delete merged.metadata.managedFields;

  const labels = { ...(merged.metadata?.labels ?? {}) };
  for (const [key, value] of Object.entries(desired.metadata?.labels ?? {})) {
    if (labels[key] !== value) {
      changes.push(`metadata.labels.${key}: ${show(labels[key])} -> ${show(value)}`);
      labels[key] = value;
    }
  }
  merged.metadata = { ...merged.metadata, labels };

  const webhooks = [...(merged.webhooks ?? [])];
  for (const want of desired.webhooks ?? []) {
    const index = webhooks.findIndex((w) => w.name === want.name);
    if (index === -1) {
      webhooks.push(structuredClone(want));
      changes.push(`webhooks[${want.name}]: added`);
      continue;
    }
    const have = webhooks[index] as V1MutatingWebhook;
    const next: V1MutatingWebhook = { ...have, clientConfig: mergeClientConfig(have, want, changes) };
    for (const field of OWNED_WEBHOOK_FIELDS) {
      if (!sameAsServer(field, have[field], want[field])) {
        changes.push(`webhooks[${want.name}].${field}: ${show(have[field])} -> ${show(want[field])}`);
      }
      // Undefined removes the field (the label gate turned off); the server then applies its default.
      (next as unknown as Record<string, unknown>)[field] = want[field] === undefined ? undefined : structuredClone(want[field]);
    }
    webhooks[index] = next;
  }
  merged.webhooks = webhooks;
  return { merged, changes };
}

function mergeClientConfig(have: V1MutatingWebhook, want: V1MutatingWebhook, changes: string[]): V1MutatingWebhook['clientConfig'] {
  const prefix = `webhooks[${want.name}].clientConfig`;
  const before = have.clientConfig ?? {};
  const after = want.clientConfig ?? {};
  if (before.url !== undefined && after.url === undefined) changes.push(`${prefix}.url: ${show(before.url)} -> (removed)`);
  if (!isDeepStrictEqual(plain(before.service), plain(after.service))) {
    changes.push(`${prefix}.service: ${show(before.service)} -> ${show(after.service)}`);
  }
  // No CA given (cert-manager injects it): keep whatever bundle is there.
  const caBundle = after.caBundle ?? before.caBundle;
  if (caBundle !== before.caBundle) changes.push(`${prefix}.caBundle: ${before.caBundle === undefined ? 'added' : 'replaced'}`);
  return { ...(after.url === undefined ? {} : { url: after.url }), ...(after.service ? { service: after.service } : {}), ...(caBundle ? { caBundle } : {}) };
}

/** Compares the way the API server would see them: it defaults an absent selector to `{}`. */
function sameAsServer(field: (typeof OWNED_WEBHOOK_FIELDS)[number], have: unknown, want: unknown): boolean {
  if (field === 'namespaceSelector' || field === 'objectSelector') {
    return isDeepStrictEqual(normalSelector(have as V1LabelSelector | undefined), normalSelector(want as V1LabelSelector | undefined));
  }
  return isDeepStrictEqual(plain(have), plain(want));
}

function normalSelector(s: V1LabelSelector | undefined): unknown {
  const labels = s?.matchLabels && Object.keys(s.matchLabels).length > 0 ? s.matchLabels : undefined;
  const expressions = s?.matchExpressions && s.matchExpressions.length > 0 ? s.matchExpressions : undefined;
  return plain({ matchLabels: labels, matchExpressions: expressions });
}

/** Drops class prototypes and undefined members, so a read object and a built one compare by content. */
function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function show(value: unknown): string {
  if (value === undefined) return '(unset)';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

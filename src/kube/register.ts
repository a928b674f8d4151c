// kube edge: create-or-update / delete the admission objects (the MutatingWebhookConfiguration and the
// final-state ValidatingAdmissionPolicy with its binding) through the API server.
import { isDeepStrictEqual } from 'node:util';
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  type V1LabelSelector,
  type V1MutatingWebhook,
  type V1MutatingWebhookConfiguration,
  type V1ObjectMeta,
  type V1ValidatingAdmissionPolicy,
  type V1ValidatingAdmissionPolicyBinding,
} from '@kubernetes/client-node';
import { InjectorError } from '../errors.js';
import { desiredAdmissionObjects, droppedMatchConditionsNotice, withoutMatchConditions, type AdmissionObjects, type KubeVersion } from './admission-objects.js';
import { httpStatusOf, statusReasonOf, toKubeError } from './api-error.js';
import { finalStatePolicyName } from './final-state-policy.js';
import { serverOf } from './kubeconfig.js';
import { OWN_WEBHOOK_NAMES, POLICY_WEBHOOK_NAMES, type WebhookOptions } from './webhook-config.js';

export const FIELD_MANAGER = 'exporter-injector';
const DEFAULT_MAX_ATTEMPTS = 5;

export interface RegisterResult {
  readonly action: 'created' | 'updated' | 'unchanged';
  readonly name: string;
  readonly changes: readonly string[];
}

export interface UnregisterResult {
  readonly action: 'deleted' | 'absent';
  readonly name: string;
}

/** What `register` did to one object; `ref` is `kind/name` as kubectl prints it. */
export interface ObjectResult extends RegisterResult {
  readonly ref: string;
}

/** The webhook fields `register` owns; everything else on the object and its other webhooks is kept. */
const OWNED_WEBHOOK_FIELDS = [
  'rules',
  'matchConditions',
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
): Promise<RegisterResult & { readonly stored: V1MutatingWebhookConfiguration }> {
  const name = desired.metadata?.name;
  if (!name) throw new InjectorError('EI_ERR_INTERNAL', 'registerWebhook: desired object has no metadata.name');
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const where = `mutatingwebhookconfigurations/${name} at ${serverOf(kc)}`;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const existing = await readOrUndefined(api, name, where);
    if (existing === undefined) {
      try {
        const stored = await api.createMutatingWebhookConfiguration({ body: desired, fieldManager: FIELD_MANAGER });
        return { action: 'created', name, changes: [], stored };
      } catch (e) {
        // Someone created it since our read: update theirs on the next round.
        if (httpStatusOf(e) === 409) continue;
        throw toKubeError(e, `create ${where}`);
      }
    }
    const { merged, changes } = mergeWebhookConfiguration(existing, desired);
    if (changes.length === 0) return { action: 'unchanged', name, changes, stored: existing };
    try {
      const stored = await api.replaceMutatingWebhookConfiguration({ name, body: merged, fieldManager: FIELD_MANAGER });
      return { action: 'updated', name, changes, stored };
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

type PolicyObject = V1ValidatingAdmissionPolicy | V1ValidatingAdmissionPolicyBinding;

/** The client calls for one cluster-scoped kind, so one create-or-replace serves both policy kinds. */
interface KindCalls<T extends PolicyObject> {
  readonly resource: string;
  read(name: string): Promise<T>;
  create(body: T): Promise<T>;
  replace(name: string, body: T): Promise<T>;
  remove(name: string): Promise<unknown>;
  /** `desired` as the API server stores it (its defaults filled in), so an unchanged object compares equal. */
  defaulted(desired: T): T;
}

function policyCalls(api: AdmissionregistrationV1Api): KindCalls<V1ValidatingAdmissionPolicy> {
  return {
    resource: 'validatingadmissionpolicies',
    read: (name) => api.readValidatingAdmissionPolicy({ name }),
    create: (body) => api.createValidatingAdmissionPolicy({ body, fieldManager: FIELD_MANAGER }),
    replace: (name, body) => api.replaceValidatingAdmissionPolicy({ name, body, fieldManager: FIELD_MANAGER }),
    remove: (name) => api.deleteValidatingAdmissionPolicy({ name }),
    defaulted: (desired) => {
      // SetDefaults_ValidatingAdmissionPolicySpec / _MatchResources / _NamedRuleWithOperations (admissionregistration/v1).
      const o = plain(desired) as V1ValidatingAdmissionPolicy;
      const spec = o.spec ?? {};
      spec.failurePolicy ??= 'Fail';
      const match = spec.matchConstraints;
      if (match) {
        match.matchPolicy ??= 'Equivalent';
        match.namespaceSelector ??= {};
        match.objectSelector ??= {};
        for (const rule of match.resourceRules ?? []) rule.scope ??= '*';
      }
      return o;
    },
  };
}

function bindingCalls(api: AdmissionregistrationV1Api): KindCalls<V1ValidatingAdmissionPolicyBinding> {
  return {
    resource: 'validatingadmissionpolicybindings',
    read: (name) => api.readValidatingAdmissionPolicyBinding({ name }),
    create: (body) => api.createValidatingAdmissionPolicyBinding({ body, fieldManager: FIELD_MANAGER }),
    replace: (name, body) => api.replaceValidatingAdmissionPolicyBinding({ name, body, fieldManager: FIELD_MANAGER }),
    remove: (name) => api.deleteValidatingAdmissionPolicyBinding({ name }),
    defaulted: (desired) => plain(desired) as V1ValidatingAdmissionPolicyBinding,
  };
}

/**
 * Creates the object, or replaces its spec (which we own whole) and sets our labels, keeping its other labels
 * and annotations; retries a 409 like registerWebhook. Unchanged (in the server's defaulted terms) writes nothing.
 */
async function applyWhole<T extends PolicyObject>(kc: KubeConfig, calls: KindCalls<T>, desired: T, maxAttempts: number): Promise<RegisterResult> {
  const name = desired.metadata?.name as string;
  const where = `${calls.resource}/${name} at ${serverOf(kc)}`;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    let existing: T | undefined;
    try {
      existing = await calls.read(name);
    } catch (e) {
      if (httpStatusOf(e) !== 404) throw toKubeError(e, `read ${where}`);
    }
    if (existing === undefined) {
      try {
        await calls.create(desired);
        return { action: 'created', name, changes: [] };
      } catch (e) {
        if (httpStatusOf(e) === 409) continue;
        throw toKubeError(e, `create ${where}`);
      }
    }
    const changes: string[] = [];
    const labels = mergeLabels(existing.metadata, desired.metadata, changes);
    const want = calls.defaulted(desired).spec;
    if (!isDeepStrictEqual(plain(existing.spec), want)) changes.push(`spec: ${show(existing.spec)} -> ${show(desired.spec)}`);
    if (changes.length === 0) return { action: 'unchanged', name, changes };
    const { managedFields: _, ...metadata } = existing.metadata ?? {};
    try {
      await calls.replace(name, { ...existing, metadata: { ...metadata, labels }, spec: structuredClone(desired.spec) } as T);
      return { action: 'updated', name, changes };
    } catch (e) {
      if (httpStatusOf(e) === 409 && statusReasonOf(e) !== 'AlreadyExists') continue;
      throw toKubeError(e, `update ${where}`);
    }
  }
  throw new InjectorError('EI_ERR_KUBE_API', `cannot update ${where}: HTTP 409: the object kept changing under us (${maxAttempts} attempts); run register again`);
}

async function removeWhole(kc: KubeConfig, calls: KindCalls<PolicyObject>, name: string): Promise<UnregisterResult> {
  try {
    await calls.remove(name);
    return { action: 'deleted', name };
  } catch (e) {
    // 404 also when the cluster has no such resource (before 1.30): nothing of ours can be there.
    if (httpStatusOf(e) === 404) return { action: 'absent', name };
    throw toKubeError(e, `delete ${calls.resource}/${name} at ${serverOf(kc)}`);
  }
}

export interface AdmissionRegistration {
  /** One entry per object written, in order. */
  readonly results: readonly ObjectResult[];
  /** The shape and objects actually written (legacy when the server dropped the matchConditions). */
  readonly written: AdmissionObjects;
  /** Sentences for stderr: what this cluster does not get, and why. */
  readonly notices: readonly string[];
}

/**
 * Writes the objects `clusterVersion` accepts (desiredAdmissionObjects). If the API server stores the
 * configuration without the matchConditions it was sent (the AdmissionWebhookMatchConditions gate turned off
 * on a 1.28/1.29 server, which drops the field silently), the legacy shape is written instead: per-pod Fail
 * without the conditions would hold up every pod in the cluster while the webhook is down.
 */
export async function registerAdmission(
  kc: KubeConfig,
  options: Partial<WebhookOptions>,
  clusterVersion: KubeVersion,
  settings: { readonly maxAttempts?: number } = {},
): Promise<AdmissionRegistration> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const maxAttempts = settings.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  let written = desiredAdmissionObjects(options, clusterVersion);
  const notices = [...written.notices];
  const results: ObjectResult[] = [];

  let webhook = await registerWebhook(kc, written.webhookConfiguration, { maxAttempts });
  if (written.shape === 'match-conditions' && droppedMatchConditions(webhook.stored)) {
    notices.push(droppedMatchConditionsNotice(serverOf(kc)));
    written = withoutMatchConditions(written, options);
    const again = await registerWebhook(kc, written.webhookConfiguration, { maxAttempts });
    webhook = { ...again, action: webhook.action === 'created' ? 'created' : again.action, changes: [...webhook.changes, ...again.changes] };
  }
  results.push({ ref: `mutatingwebhookconfiguration/${webhook.name}`, action: webhook.action, name: webhook.name, changes: webhook.changes });
  if (written.policy && written.binding) {
    const policy = await applyWhole(kc, policyCalls(api), written.policy, maxAttempts);
    results.push({ ...policy, ref: `validatingadmissionpolicy/${policy.name}` });
    const binding = await applyWhole(kc, bindingCalls(api), written.binding, maxAttempts);
    results.push({ ...binding, ref: `validatingadmissionpolicybinding/${binding.name}` });
  }
  return { results, written, notices };
}

/** Deletes the binding, the policy and the configuration named after `configName`; absent ones are reported as such. */
export async function unregisterAdmission(kc: KubeConfig, configName: string): Promise<(UnregisterResult & { readonly ref: string })[]> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const policyName = finalStatePolicyName(configName);
  const binding = await removeWhole(kc, bindingCalls(api) as KindCalls<PolicyObject>, policyName);
  const policy = await removeWhole(kc, policyCalls(api) as KindCalls<PolicyObject>, policyName);
  const webhook = await unregisterWebhook(kc, configName);
  return [
    { ...webhook, ref: `mutatingwebhookconfiguration/${configName}` },
    { ...policy, ref: `validatingadmissionpolicy/${policyName}` },
    { ...binding, ref: `validatingadmissionpolicybinding/${policyName}` },
  ];
}

/** Whether one of our webhooks came back from the server without the matchConditions it was sent with. */
export function droppedMatchConditions(stored: V1MutatingWebhookConfiguration): boolean {
  const conditional: readonly string[] = Object.values(POLICY_WEBHOOK_NAMES);
  return (stored.webhooks ?? []).some((w) => conditional.includes(w.name) && (w.matchConditions ?? []).length === 0);
}

function mergeLabels(have: V1ObjectMeta | undefined, want: V1ObjectMeta | undefined, changes: string[]): Record<string, string> {
  const labels = { ...(have?.labels ?? {}) };
  for (const [key, value] of Object.entries(want?.labels ?? {})) {
    if (labels[key] !== value) {
      changes.push(`metadata.labels.${key}: ${show(labels[key])} -> ${show(value)}`);
      labels[key] = value;
    }
  }
  return labels;
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
 * Pure: `existing` with our labels and our webhooks (by name) set from `desired`; our webhooks `desired` no
 * longer has (the other shape's) are removed; its annotations, other labels, other webhooks and the fields of
 * our webhooks we do not own stay as they are.
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

  merged.metadata = { ...merged.metadata, labels: mergeLabels(merged.metadata, desired.metadata, changes) };

  const wanted = new Set((desired.webhooks ?? []).map((w) => w.name));
  const webhooks = (merged.webhooks ?? []).filter((w) => {
    const stale = OWN_WEBHOOK_NAMES.includes(w.name) && !wanted.has(w.name);
    if (stale) changes.push(`webhooks[${w.name}]: removed`);
    return !stale;
  });
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
export function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** A value as a change line shows it: short, `(unset)` for nothing. */
export function show(value: unknown): string {
  if (value === undefined) return '(unset)';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

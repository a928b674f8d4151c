// kube edge: builds the MutatingWebhookConfiguration (DESIGN.md §2 defaults) and owns the options every
// admission object is built from. Pure: no I/O.
import type { V1LabelSelector, V1MutatingWebhook, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { InjectorError } from '../errors.js';
import { DEFAULT_IGNORED_NAMESPACES } from '../core/defaults.js';
import { PREFIX, type Policy } from '../core/types.js';
import { isDnsLabel, isDnsSubdomain, isUrlPath } from '../core/values.js';
import { webhookConditions } from './admission-cel.js';

/** Name of the MutatingWebhookConfiguration object (and the stem of the policy objects' names). */
export const WEBHOOK_CONFIG_NAME = 'exporter-injector';
/** The one webhook of the legacy shape (clusters without matchConditions); also the name before 1.28 support. */
export const WEBHOOK_NAME = 'inject.exporter-injector.io';
/** The two webhooks of the current shape, one per pod policy (DESIGN.md §2). */
export const POLICY_WEBHOOK_NAMES: Readonly<Record<Policy, string>> = Object.freeze({
  required: `required.${WEBHOOK_NAME}`,
  optional: `optional.${WEBHOOK_NAME}`,
});
/** Every webhook name `register` owns in the configuration: a shape change removes the ones not wanted. */
export const OWN_WEBHOOK_NAMES: readonly string[] = Object.freeze([POLICY_WEBHOOK_NAMES.required, POLICY_WEBHOOK_NAMES.optional, WEBHOOK_NAME]);
/** The opt-in label the optional label gate selects on. */
export const LABEL_GATE_KEY = `${PREFIX}enabled`;
/** Labels the builder puts on every object (the deploy/ kustomization uses the same). */
export const CONFIG_LABELS: Readonly<Record<string, string>> = Object.freeze({ 'app.kubernetes.io/name': 'exporter-injector' });

/**
 * What the API server does when the webhook cannot answer. `PerPod` (default): pods with policy required
 * wait (Fail), pods with policy optional are created without the exporter (Ignore). `Ignore` and `Fail`
 * apply one failurePolicy to both webhooks; the split itself stays (see docs/admission.md).
 */
export type FailurePolicyOption = 'PerPod' | 'Ignore' | 'Fail';
export const FAILURE_POLICIES: readonly FailurePolicyOption[] = Object.freeze(['PerPod', 'Ignore', 'Fail']);
/** What the final-state policy does with an opted-in pod that was not injected. */
export type ValidationAction = 'Warn' | 'Deny';
export const VALIDATION_ACTIONS: readonly ValidationAction[] = Object.freeze(['Warn', 'Deny']);
export const TIMEOUT_RANGE = Object.freeze({ min: 1, max: 30 });

/**
 * The two shapes of the configuration: `match-conditions` (two webhooks, CEL matchConditions; Kubernetes
 * >= 1.28) and `legacy` (one webhook that every pod in scope reaches; older clusters).
 */
export type WebhookShape = 'match-conditions' | 'legacy';

export interface WebhookOptions {
  /** metadata.name of the configuration; the policy objects are named after it. */
  readonly name: string;
  readonly service: string;
  readonly namespace: string;
  readonly path: string;
  /** The Service port (443), not the container port. */
  readonly port: number;
  /** The CA certificate(s) in PEM; omitted when undefined (cert-manager injects it). */
  readonly caBundle?: string | undefined;
  readonly failurePolicy: FailurePolicyOption;
  readonly timeoutSeconds: number;
  /** Only pods labelled `exporter-injector.io/enabled: "true"` are sent to the webhook. */
  readonly labelGate: boolean;
  /** The final-state ValidatingAdmissionPolicy's action: Warn (+ Audit) or Deny (+ Audit). */
  readonly validationAction: ValidationAction;
}

export const WEBHOOK_DEFAULTS: WebhookOptions = Object.freeze({
  name: WEBHOOK_CONFIG_NAME,
  service: 'exporter-injector',
  namespace: 'exporter-injector',
  path: '/mutate',
  port: 443,
  caBundle: undefined,
  // Safe only because matchConditions send nothing but opted-in pods: an outage delays only pods that asked
  // for an exporter (DESIGN.md §2). The legacy shape turns this into Ignore.
  failurePolicy: 'PerPod',
  // Small: failed calls burn their timeout even with Ignore, and stacked webhooks add up (kubernetes#128162).
  timeoutSeconds: 5,
  labelGate: false,
  validationAction: 'Warn',
});

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/** Fills defaults and checks every option; throws EI_ERR_CONFIG_INVALID listing all problems. */
export function resolveWebhookOptions(partial: Partial<WebhookOptions> = {}): WebhookOptions {
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const o: WebhookOptions = { ...WEBHOOK_DEFAULTS, ...defined };
  const problems: string[] = [];
  if (!isDnsSubdomain(o.name)) problems.push(`name "${o.name}" is not a DNS subdomain (lowercase letters, digits, '-', '.')`);
  if (!isDnsLabel(o.service)) problems.push(`service "${o.service}" is not a DNS label (lowercase letters, digits, '-', at most 63)`);
  if (!isDnsLabel(o.namespace)) problems.push(`namespace "${o.namespace}" is not a DNS label (lowercase letters, digits, '-', at most 63)`);
  if (!isUrlPath(o.path)) problems.push(`path "${o.path}" is not an absolute URL path such as /mutate (letters, digits, '-', '.', '_', '~', '/')`);
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) problems.push(`port ${o.port} is not an integer in 1..65535`);
  if (!FAILURE_POLICIES.includes(o.failurePolicy)) problems.push(`failurePolicy "${o.failurePolicy}" is not one of ${FAILURE_POLICIES.join(', ')}`);
  if (!VALIDATION_ACTIONS.includes(o.validationAction)) problems.push(`validationAction "${o.validationAction}" is not one of ${VALIDATION_ACTIONS.join(', ')}`);
  if (!Number.isInteger(o.timeoutSeconds) || o.timeoutSeconds < TIMEOUT_RANGE.min || o.timeoutSeconds > TIMEOUT_RANGE.max) {
    problems.push(`timeoutSeconds ${o.timeoutSeconds} is not an integer in ${TIMEOUT_RANGE.min}..${TIMEOUT_RANGE.max} (the API server's limits)`);
  }
  if (o.caBundle !== undefined && !PEM_CERTIFICATE.test(o.caBundle)) problems.push('caBundle is not a PEM certificate (no -----BEGIN CERTIFICATE----- block)');
  if (problems.length > 0) {
    throw new InjectorError('EI_ERR_CONFIG_INVALID', `invalid webhook configuration: ${problems.join('; ')}`, { details: problems });
  }
  return Object.freeze(o);
}

/** The namespaces never sent: the cluster's own and the webhook's (which keeps its own pods out too). */
export function excludedNamespaces(options: WebhookOptions): V1LabelSelector {
  // By the reserved kubernetes.io/metadata.name label, so no namespace needs labelling.
  return { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...DEFAULT_IGNORED_NAMESPACES, options.namespace] }] };
}

/** The label gate's selector, or undefined without the gate. */
export function labelGateSelector(options: WebhookOptions): V1LabelSelector | undefined {
  return options.labelGate ? { matchLabels: { [LABEL_GATE_KEY]: 'true' } } : undefined;
}

/** The failurePolicy of the webhook entry that serves pods of `policy` (undefined: the legacy single webhook). */
export function failurePolicyFor(options: WebhookOptions, policy: Policy | undefined): 'Fail' | 'Ignore' {
  if (options.failurePolicy !== 'PerPod') return options.failurePolicy;
  // Without matchConditions every pod reaches the webhook, so Fail would stop the whole cluster's pods.
  if (policy === undefined) return 'Ignore';
  return policy === 'required' ? 'Fail' : 'Ignore';
}

/** One webhook entry; `register` merges exactly these fields into an existing object. */
function buildWebhook(options: WebhookOptions, policy: Policy | undefined): V1MutatingWebhook {
  const objectSelector = labelGateSelector(options);
  return {
    name: policy === undefined ? WEBHOOK_NAME : POLICY_WEBHOOK_NAMES[policy],
    clientConfig: {
      service: { name: options.service, namespace: options.namespace, path: options.path, port: options.port },
      ...(options.caBundle === undefined ? {} : { caBundle: Buffer.from(options.caBundle, 'utf8').toString('base64') }),
    },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
    namespaceSelector: excludedNamespaces(options),
    // objectSelector matches labels only; matchConditions (below) read the annotations. The gate still narrows
    // calls on clusters without matchConditions, and adds a second switch on newer ones.
    ...(objectSelector ? { objectSelector } : {}),
    // All conditions true, or the API server admits the pod without calling (docs/admission.md).
    ...(policy === undefined ? {} : { matchConditions: webhookConditions(policy) }),
    failurePolicy: failurePolicyFor(options, policy),
    matchPolicy: 'Equivalent',
    // The webhook answers dryRun requests identically and writes nothing.
    sideEffects: 'None',
    timeoutSeconds: options.timeoutSeconds,
    // Re-run when a later webhook changed the pod (it may add the opt-in); injection is idempotent.
    reinvocationPolicy: 'IfNeeded',
    admissionReviewVersions: ['v1'],
  };
}

/** The whole admissionregistration.k8s.io/v1 object for `shape`, as `register --dry-run -o yaml` prints it. */
export function buildWebhookConfiguration(partial: Partial<WebhookOptions> = {}, shape: WebhookShape = 'match-conditions'): V1MutatingWebhookConfiguration {
  const options = resolveWebhookOptions(partial);
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: options.name, labels: { ...CONFIG_LABELS } },
    webhooks: shape === 'legacy' ? [buildWebhook(options, undefined)] : [buildWebhook(options, 'required'), buildWebhook(options, 'optional')],
  };
}

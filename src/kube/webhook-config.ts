// kube edge: builds the MutatingWebhookConfiguration object (DESIGN.md §2 defaults). Pure: no I/O.
import type { V1MutatingWebhook, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { InjectorError } from '../errors.js';
import { DEFAULT_IGNORED_NAMESPACES } from '../core/defaults.js';
import { PREFIX } from '../core/types.js';
import { isDnsLabel, isDnsSubdomain } from '../core/values.js';

/** Name of the MutatingWebhookConfiguration object. */
export const WEBHOOK_CONFIG_NAME = 'exporter-injector';
/** Name of our webhook inside it; the key `register` merges on. */
export const WEBHOOK_NAME = 'inject.exporter-injector.io';
/** The opt-in label the optional label gate selects on. */
export const LABEL_GATE_KEY = `${PREFIX}enabled`;
/** Labels the builder puts on the object (the deploy/ kustomization uses the same). */
export const CONFIG_LABELS: Readonly<Record<string, string>> = Object.freeze({ 'app.kubernetes.io/name': 'exporter-injector' });

export type FailurePolicy = 'Ignore' | 'Fail';
export const FAILURE_POLICIES: readonly FailurePolicy[] = Object.freeze(['Ignore', 'Fail']);
export const TIMEOUT_RANGE = Object.freeze({ min: 1, max: 30 });

export interface WebhookOptions {
  /** metadata.name of the configuration. */
  readonly name: string;
  readonly service: string;
  readonly namespace: string;
  readonly path: string;
  /** The Service port (443), not the container port. */
  readonly port: number;
  /** The CA certificate(s) in PEM; omitted when undefined (cert-manager injects it). */
  readonly caBundle?: string | undefined;
  readonly failurePolicy: FailurePolicy;
  readonly timeoutSeconds: number;
  /** Only pods labelled `exporter-injector.io/enabled: "true"` are sent to the webhook. */
  readonly labelGate: boolean;
}

export const WEBHOOK_DEFAULTS: WebhookOptions = Object.freeze({
  name: WEBHOOK_CONFIG_NAME,
  service: 'exporter-injector',
  namespace: 'exporter-injector',
  path: '/mutate',
  port: 443,
  caBundle: undefined,
  // A down webhook must never stop the cluster from creating pods (DESIGN.md §2).
  failurePolicy: 'Ignore',
  // Small: failed calls burn their timeout even with Ignore, and stacked webhooks add up (kubernetes#128162).
  timeoutSeconds: 5,
  labelGate: false,
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
  if (!o.path.startsWith('/')) problems.push(`path "${o.path}" must start with '/'`);
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) problems.push(`port ${o.port} is not an integer in 1..65535`);
  if (!FAILURE_POLICIES.includes(o.failurePolicy)) problems.push(`failurePolicy "${o.failurePolicy}" is not one of ${FAILURE_POLICIES.join(', ')}`);
  if (!Number.isInteger(o.timeoutSeconds) || o.timeoutSeconds < TIMEOUT_RANGE.min || o.timeoutSeconds > TIMEOUT_RANGE.max) {
    problems.push(`timeoutSeconds ${o.timeoutSeconds} is not an integer in ${TIMEOUT_RANGE.min}..${TIMEOUT_RANGE.max} (the API server's limits)`);
  }
  if (o.caBundle !== undefined && !PEM_CERTIFICATE.test(o.caBundle)) problems.push('caBundle is not a PEM certificate (no -----BEGIN CERTIFICATE----- block)');
  if (problems.length > 0) {
    throw new InjectorError('EI_ERR_CONFIG_INVALID', `invalid webhook configuration: ${problems.join('; ')}`, { details: problems });
  }
  return Object.freeze(o);
}

/** Our webhook entry; `register` merges exactly these fields into an existing object. */
export function buildWebhook(options: WebhookOptions): V1MutatingWebhook {
  const webhook: V1MutatingWebhook = {
    name: WEBHOOK_NAME,
    clientConfig: {
      service: { name: options.service, namespace: options.namespace, path: options.path, port: options.port },
      ...(options.caBundle === undefined ? {} : { caBundle: Buffer.from(options.caBundle, 'utf8').toString('base64') }),
    },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
    // By the reserved kubernetes.io/metadata.name label, so no namespace needs labelling; the webhook's own
    // namespace is excluded too, which also keeps the injector's own pods out without an objectSelector.
    namespaceSelector: {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...DEFAULT_IGNORED_NAMESPACES, options.namespace] }],
    },
    // objectSelector matches labels only: without the gate every pod CREATE in scope reaches the webhook,
    // so the gate is the way to keep large clusters' pod churn off it.
    ...(options.labelGate ? { objectSelector: { matchLabels: { [LABEL_GATE_KEY]: 'true' } } } : {}),
    failurePolicy: options.failurePolicy,
    matchPolicy: 'Equivalent',
    // The webhook answers dryRun requests identically and writes nothing.
    sideEffects: 'None',
    timeoutSeconds: options.timeoutSeconds,
    // Re-run when a later webhook changed the pod (it may add the opt-in); injection is idempotent.
    reinvocationPolicy: 'IfNeeded',
    admissionReviewVersions: ['v1'],
  };
  return webhook;
}

/** The whole admissionregistration.k8s.io/v1 object, as `register --dry-run -o yaml` prints it. */
export function buildWebhookConfiguration(partial: Partial<WebhookOptions> = {}): V1MutatingWebhookConfiguration {
  const options = resolveWebhookOptions(partial);
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: options.name, labels: { ...CONFIG_LABELS } },
    webhooks: [buildWebhook(options)],
  };
}

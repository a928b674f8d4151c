// kube edge: every admission object `register` writes (and `install` prints, and `check` compares) for a
// cluster version, with the notices that explain what a version does not get. Pure: no I/O.
import { InjectorError } from '../errors.js';
import type { V1MutatingWebhookConfiguration, V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding } from '@kubernetes/client-node';
import { buildFinalStatePolicy, buildFinalStatePolicyBinding } from './final-state-policy.js';
import { buildWebhookConfiguration, LABEL_GATE_KEY, resolveWebhookOptions, type WebhookOptions, type WebhookShape } from './webhook-config.js';

export interface KubeVersion {
  readonly major: number;
  readonly minor: number;
}

/** matchConditions: beta and on by default in 1.28 (gate AdmissionWebhookMatchConditions), GA in 1.30 (KEP-3716). */
export const MATCH_CONDITIONS_SINCE: KubeVersion = Object.freeze({ major: 1, minor: 28 });
/** ValidatingAdmissionPolicy in admissionregistration.k8s.io/v1: GA in 1.30 (KEP-3488); v1beta1 was off by default. */
export const VALIDATING_POLICY_SINCE: KubeVersion = Object.freeze({ major: 1, minor: 30 });

export interface AdmissionObjects {
  readonly shape: WebhookShape;
  readonly webhookConfiguration: V1MutatingWebhookConfiguration;
  /** Absent below 1.30. */
  readonly policy?: V1ValidatingAdmissionPolicy;
  readonly binding?: V1ValidatingAdmissionPolicyBinding;
  /** Every object, in the order to apply them (the policy before its binding). */
  readonly objects: readonly (V1MutatingWebhookConfiguration | V1ValidatingAdmissionPolicy | V1ValidatingAdmissionPolicyBinding)[];
  /** What this cluster version does not get and what that means, one sentence each (for stderr). */
  readonly notices: readonly string[];
}

/** `1.27`, `v1.30.4` (a --kube-version flag) as major.minor; undefined stays undefined. Throws EI_ERR_USAGE naming `flag`. */
export function parseKubeVersion(raw: string | undefined, flag = '--kube-version'): KubeVersion | undefined {
  if (raw === undefined) return undefined;
  const m = /^v?(\d+)\.(\d+)(\.\d+)?$/.exec(raw);
  if (!m) throw new InjectorError('EI_ERR_USAGE', `${flag} "${raw}" is invalid; valid: a Kubernetes version such as 1.27 or v1.30.4`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

export function atLeast(version: KubeVersion, since: KubeVersion): boolean {
  return version.major > since.major || (version.major === since.major && version.minor >= since.minor);
}

export function webhookShapeFor(version: KubeVersion | undefined): WebhookShape {
  return version === undefined || atLeast(version, MATCH_CONDITIONS_SINCE) ? 'match-conditions' : 'legacy';
}

/**
 * The objects for `clusterVersion` (undefined: the newest shape). Throws EI_ERR_CONFIG_INVALID for invalid
 * options, naming each problem.
 */
export function desiredAdmissionObjects(partial: Partial<WebhookOptions> = {}, clusterVersion?: KubeVersion): AdmissionObjects {
  const options = resolveWebhookOptions(partial);
  const shape = webhookShapeFor(clusterVersion);
  const webhookConfiguration = buildWebhookConfiguration(options, shape);
  const notices: string[] = [];
  const version = clusterVersion === undefined ? '' : `Kubernetes ${clusterVersion.major}.${clusterVersion.minor}`;
  if (shape === 'legacy') {
    const policy = webhookConfiguration.webhooks?.[0]?.failurePolicy;
    notices.push(
      `${version} has no webhook matchConditions (they need ${MATCH_CONDITIONS_SINCE.major}.${MATCH_CONDITIONS_SINCE.minor}): ` +
        `one webhook with failurePolicy ${policy} is registered and every pod CREATE outside the excluded namespaces is sent to it` +
        (options.labelGate
          ? `, narrowed by the label gate (${LABEL_GATE_KEY}: "true")`
          : `; to send only opted-in pods, use the label gate (--label-gate: only pods labelled ${LABEL_GATE_KEY}: "true" are sent)`),
    );
  }
  if (clusterVersion !== undefined && !atLeast(clusterVersion, VALIDATING_POLICY_SINCE)) {
    notices.push(
      `${version} has no ValidatingAdmissionPolicy v1 (it needs ${VALIDATING_POLICY_SINCE.major}.${VALIDATING_POLICY_SINCE.minor}): ` +
        `the final-state check is skipped; find opted-in pods that missed injection with "exporter-injector audit"`,
    );
    return { shape, webhookConfiguration, objects: [webhookConfiguration], notices };
  }
  const policy = buildFinalStatePolicy(options);
  const binding = buildFinalStatePolicyBinding(options);
  return { shape, webhookConfiguration, policy, binding, objects: [webhookConfiguration, policy, binding], notices };
}

/**
 * The objects for a server that drops webhook matchConditions (the AdmissionWebhookMatchConditions
 * gate turned off on 1.28/1.29, which stores the configuration without them, silently): the legacy
 * webhook shape, because per-pod Fail without the conditions would hold up every pod in the cluster
 * while the webhook is down; the policy objects stay. register writes this; check expects it.
 */
export function withoutMatchConditions(desired: AdmissionObjects, partial: Partial<WebhookOptions>): AdmissionObjects {
  const legacy = desiredAdmissionObjects(partial, { major: 1, minor: 27 });
  return { ...desired, shape: legacy.shape, webhookConfiguration: legacy.webhookConfiguration, objects: [legacy.webhookConfiguration, ...desired.objects.slice(1)] };
}

/** The notice for that case, naming the server. */
export function droppedMatchConditionsNotice(server: string): string {
  return (
    `the API server at ${server} stores the webhooks without their matchConditions (feature gate AdmissionWebhookMatchConditions off?); ` +
    'the legacy shape is used instead: one webhook, failurePolicy Ignore, every pod in scope is sent to it'
  );
}

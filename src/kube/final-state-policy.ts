// kube edge: the ValidatingAdmissionPolicy and its binding that check the final state of opted-in pods
// (Kubernetes' "fail open and validate the final state"). Pure: no I/O.
import type { V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding } from '@kubernetes/client-node';
import { ANNOTATION } from '../core/annotations.js';
import { CONDITION_NAMES, HAS_STATUS, optInConditions, POLICY_REQUIRED } from './admission-cel.js';
import { CONFIG_LABELS, excludedNamespaces, labelGateSelector, type WebhookOptions } from './webhook-config.js';

/** The policy and its binding share one name, derived from the configuration's name (several installs coexist). */
export function finalStatePolicyName(configName: string): string {
  return `${configName}-final-state`;
}

/** What a user reads in the warning (or denial) and in the audit log; it says what happened and where to look. */
export function finalStateMessage(options: WebhookOptions): string {
  return (
    `the pod opted in to exporter-injector (${ANNOTATION.inject}) but reached validation without ${ANNOTATION.status}: ` +
    `no exporter was injected. Either the webhook service ${options.service}.${options.namespace} could not be called and its ` +
    `failurePolicy is Ignore, or the pod has policy optional and a problem was ignored (see the admission warnings). ` +
    `Check the webhook: kubectl -n ${options.namespace} get pods,endpoints; list such pods: exporter-injector audit`
  );
}

export function buildFinalStatePolicy(options: WebhookOptions): V1ValidatingAdmissionPolicy {
  const objectSelector = labelGateSelector(options);
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: finalStatePolicyName(options.name), labels: { ...CONFIG_LABELS } },
    spec: {
      // Fail: an evaluation error is then reported through the binding's actions (a warning under Warn, a denial
      // under Deny) instead of being dropped, which is what Ignore does with it.
      failurePolicy: 'Fail',
      // The same pods the webhooks are sent: CREATE of pods outside the excluded namespaces, opted in.
      matchConstraints: {
        resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: excludedNamespaces(options),
        ...(objectSelector ? { objectSelector } : {}),
      },
      // Deny spares policy optional: those pods asked to be created without the exporter when injection fails.
      matchConditions: [
        ...optInConditions(),
        ...(options.validationAction === 'Deny' ? [{ name: CONDITION_NAMES.policy('required'), expression: POLICY_REQUIRED }] : []),
      ],
      validations: [{ expression: HAS_STATUS, message: finalStateMessage(options), reason: 'Invalid' }],
    },
  };
}

export function buildFinalStatePolicyBinding(options: WebhookOptions): V1ValidatingAdmissionPolicyBinding {
  const name = finalStatePolicyName(options.name);
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name, labels: { ...CONFIG_LABELS } },
    spec: {
      policyName: name,
      // Audit either way: the API server's audit log records every miss (validation.policy.admission.k8s.io).
      validationActions: options.validationAction === 'Deny' ? ['Deny', 'Audit'] : ['Warn', 'Audit'],
    },
  };
}

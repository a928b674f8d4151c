// Checks objects the way the API server would: the OpenAPI schema (kubernetes-models) and strict
// field validation (no field the type does not have).
import { isDeepStrictEqual } from 'node:util';
import { dumpYaml, loadYaml } from '@kubernetes/client-node';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { ValidatingAdmissionPolicy } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
import { ValidatingAdmissionPolicyBinding } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { parse } from 'yaml';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

interface Validatable {
  validate(): void;
}
const BUILT_IN: Record<string, new (data: never) => Validatable> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': ValidatingAdmissionPolicy,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': ValidatingAdmissionPolicyBinding,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/ReplicaSet': ReplicaSet,
  'batch/v1/CronJob': CronJob,
};

export function gvk(o: Obj): string {
  return `${o.apiVersion}/${o.kind}`;
}

/**
 * Schema problems of a built-in object: kubernetes-models' OpenAPI validation, plus fields the type does not
 * have (client-node's typed round trip drops them; kubectl's default strict field validation rejects them).
 */
export function schemaProblems(o: Obj): string[] {
  const Model = BUILT_IN[gvk(o)];
  if (!Model) return [`${gvk(o)} is neither a validated built-in kind nor a known custom kind`];
  const problems: string[] = [];
  try {
    new Model(o as never).validate();
  } catch (e) {
    problems.push((e as Error).message);
  }
  // In as JSON: YAML written for 1.2 would reach js-yaml's 1.1 reader with strings such as 0b101 unquoted.
  const roundTrip = parse(dumpYaml(loadYaml(JSON.stringify(o)))) as Obj;
  problems.push(...droppedFields(o, roundTrip, ''));
  return problems;
}

function droppedFields(original: unknown, kept: unknown, path: string): string[] {
  if (isDeepStrictEqual(original, kept)) return [];
  if (Array.isArray(original) && Array.isArray(kept)) return original.flatMap((v, i) => droppedFields(v, kept[i], `${path}[${i}]`));
  if (original && typeof original === 'object' && kept && typeof kept === 'object') {
    return Object.entries(original).flatMap(([k, v]) =>
      k in (kept as Obj) ? droppedFields(v, (kept as Obj)[k], `${path}.${k}`) : [`${path}.${k}: unknown field`],
    );
  }
  return [`${path}: ${JSON.stringify(original)} changed to ${JSON.stringify(kept)} by a typed round trip`];
}


// Builds deploy/ with `kubectl kustomize` and checks objects the way the API server would: the OpenAPI schema
// (kubernetes-models) and strict field validation (no field the type does not have).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { dumpYaml, loadYaml } from '@kubernetes/client-node';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
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
import { parse, parseAllDocuments, stringify } from 'yaml';

export const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');
export const OVERLAYS = ['cert-manager', 'self-managed', 'prometheus-operator'] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

/** `kubectl kustomize DIR`, parsed; throws with kustomize's message when the build fails. */
export function kustomize(dir: string): Obj[] {
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error('kubectl is not on PATH; the deploy/ tests build the manifests with `kubectl kustomize` (kubectl >= 1.27)');
    throw new Error(`kubectl kustomize ${dir} failed: ${err.stderr ?? err.message}`);
  }
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length > 0) throw new Error(`${dir}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Obj;
  });
}

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
};

/** Custom resources checked by hand in the tests (their schemas are not in kubernetes-models). */
export const CUSTOM_KINDS = new Set(['cert-manager.io/v1/Issuer', 'cert-manager.io/v1/Certificate', 'monitoring.coreos.com/v1/PodMonitor', 'monitoring.coreos.com/v1/ServiceMonitor']);

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
  const roundTrip = parse(dumpYaml(loadYaml(stringify(o)))) as Obj;
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

export function find(objects: Obj[], kind: string, name?: string): Obj {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as Obj;
}

export function findAll(objects: Obj[], kind: string): Obj[] {
  return objects.filter((o) => o.kind === kind);
}

/** Whether a label selector's matchLabels select `labels`. */
export function selects(selector: Obj | undefined, labels: Obj | undefined): boolean {
  const want = selector?.matchLabels ?? selector ?? {};
  return Object.keys(want).length > 0 && Object.entries(want).every(([k, v]) => labels?.[k] === v);
}

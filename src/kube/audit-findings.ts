// The pure half of `audit`: from one pod (and what is known about the cluster's admission set-up) to a
// finding, and from findings to workloads. No API calls here, so every rule is unit-tested directly.
import { ANNOTATION, parseOptIn } from '../core/annotations.js';
import { admit } from '../core/admit.js';
import { syntheticReview } from '../core/review.js';
import { statusDrift } from '../core/status.js';
import type { CoreSettings, Pod, Registry } from '../core/types.js';

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>> | undefined;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] | undefined }[] | undefined;
}

/** What the API server consults before calling the webhook, as found in the cluster. */
export interface AdmissionSetup {
  /** Undefined when no MutatingWebhookConfiguration exists. */
  readonly configuration:
    | {
        readonly name: string;
        readonly createdAt: Date | undefined;
        /** Our webhooks' selectors; a pod is sent when one of them selects it. */
        readonly webhooks: readonly { readonly namespaceSelector?: LabelSelector | undefined; readonly objectSelector?: LabelSelector | undefined }[];
      }
    | undefined;
  /** Labels of each namespace (kubernetes.io/metadata.name is set on every namespace). */
  readonly namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>>;
  readonly registry: Registry;
  readonly settings: CoreSettings;
}

export type FindingKind = 'missing' | 'drifted';

export interface OwnerRef {
  readonly kind: string;
  readonly name: string;
  readonly apiVersion?: string | undefined;
}

export interface PodFinding {
  readonly namespace: string;
  readonly pod: string;
  readonly kind: FindingKind;
  readonly templates: readonly string[];
  /** Why it has no injection, or what changed in its templates. */
  readonly reasons: readonly string[];
  /**
   * Whether a new pod would be injected: false while the cause remains (namespace excluded, label gate
   * missing, no configuration, a problem in its opt-in), which must be fixed first.
   */
  readonly restartHelps: boolean;
  /** The controlling owner (ReplicaSet, StatefulSet, Job, ...), or undefined for a bare pod. */
  readonly owner: OwnerRef | undefined;
}

/**
 * The finding for one pod, or undefined when there is nothing to report: the pod did not opt in, has
 * finished (Succeeded/Failed runs nothing), or was injected from the templates the registry has now.
 */
export function analyzePod(pod: Pod, setup: AdmissionSetup): PodFinding | undefined {
  const annotations = pod.metadata?.annotations;
  const optIn = parseOptIn(annotations);
  if (!optIn.optedIn) return undefined;
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const namespace = pod.metadata?.namespace ?? '';
  const base = { namespace, pod: pod.metadata?.name ?? '', templates: optIn.optIn.templates, owner: controllerOf(pod) };
  if (annotations?.[ANNOTATION.status] !== undefined) {
    const drift = statusDrift(annotations, setup.registry);
    return drift.length === 0 ? undefined : { ...base, kind: 'drifted', reasons: drift, restartHelps: true };
  }
  return { ...base, kind: 'missing', ...missingReasons(pod, namespace, optIn.optIn.policy, setup) };
}

/** The reasons that can be known from the pod and the set-up, lasting causes first; never empty. */
function missingReasons(pod: Pod, namespace: string, policy: string, setup: AdmissionSetup): { reasons: string[]; restartHelps: boolean } {
  const configuration = setup.configuration;
  if (!configuration) return { reasons: ['no MutatingWebhookConfiguration exists: the API server calls no webhook (run exporter-injector register)'], restartHelps: false };
  const reasons: string[] = [];
  if (setup.settings.ignoredNamespaces.includes(namespace)) {
    reasons.push(`namespace ${namespace} is one the webhook never injects (${setup.settings.ignoredNamespaces.join(', ')})`);
  }
  const nsLabels = setup.namespaceLabels.get(namespace) ?? { 'kubernetes.io/metadata.name': namespace };
  const podLabels = pod.metadata?.labels ?? {};
  const sentByNamespace = configuration.webhooks.filter((w) => selects(w.namespaceSelector, nsLabels));
  if (sentByNamespace.length === 0) {
    reasons.push(`namespace ${namespace} is excluded by the namespaceSelector of mutatingwebhookconfiguration/${configuration.name}`);
  } else if (!sentByNamespace.some((w) => selects(w.objectSelector, podLabels))) {
    const wanted = [...new Set(sentByNamespace.map((w) => describeSelector(w.objectSelector)))].join(' or ');
    reasons.push(`the pod lacks the label the webhook's objectSelector requires (${wanted}): the label gate`);
  }
  const lasting = reasons.length > 0;
  const created = dateOf(pod.metadata?.creationTimestamp);
  if (created && configuration.createdAt && created < configuration.createdAt) {
    reasons.push(`created ${created.toISOString()}, before mutatingwebhookconfiguration/${configuration.name} existed (${configuration.createdAt.toISOString()})`);
  }
  if (reasons.length > 0) return { reasons, restartHelps: !lasting };
  if (policy === 'optional') {
    // Run today's core on the pod as it would be created: the problem that made the webhook admit it unchanged.
    const problems = problemsNow(pod, namespace, setup);
    return problems.length > 0
      ? { reasons: [`policy optional: admitted without the exporter (with a warning) because: ${problems.join('; ')}`], restartHelps: false }
      : { reasons: ['policy optional: a problem at creation admitted it without the exporter (with a warning); the current templates find none'], restartHelps: true };
  }
  return {
    reasons: ['the webhook did not answer when the pod was created (down, unreachable or timed out; failurePolicy Ignore admitted it): see apiserver_admission_webhook_fail_open_count'],
    restartHelps: true,
  };
}

function problemsNow(pod: Pod, namespace: string, setup: AdmissionSetup): string[] {
  const { labels, annotations, name, generateName } = pod.metadata ?? {};
  const fresh: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name, generateName, namespace, labels, annotations }, spec: pod.spec };
  try {
    return admit(syntheticReview(fresh, namespace), setup.registry, setup.settings).outcome.problems.map((p) => p.message);
  } catch {
    return [];
  }
}

function controllerOf(pod: Pod): OwnerRef | undefined {
  const refs = pod.metadata?.ownerReferences ?? [];
  const owner = refs.find((r) => r.controller === true) ?? refs[0];
  return owner ? { kind: owner.kind, name: owner.name, apiVersion: owner.apiVersion } : undefined;
}

/** metav1.LabelSelector: every matchLabels pair and every expression holds; an empty or absent selector selects all. */
export function selects(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key] as string);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function describeSelector(selector: LabelSelector | undefined): string {
  const labels = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  const expressions = (selector?.matchExpressions ?? []).map((e) => `${e.key} ${e.operator}${e.values ? ` (${e.values.join(',')})` : ''}`);
  return [...labels, ...expressions].join(', ') || 'any';
}

function dateOf(value: Date | string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

// ---------------------------------------------------------------------------------------------
// Workloads

/** Kinds whose pod template `audit --restart` patches, as `kubectl rollout restart` does (CronJob: its jobTemplate). */
export const RESTARTABLE_KINDS: readonly string[] = Object.freeze(['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob']);

export interface Workload {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface WorkloadFindings {
  readonly workload: Workload;
  /** Patching its pod template replaces the pods; false for bare pods, lone ReplicaSets and Jobs, other controllers. */
  readonly restartable: boolean;
  /** Some of its pods would be injected when created again (their cause is gone). */
  readonly restartHelps: boolean;
  readonly pods: readonly { readonly pod: string; readonly kind: FindingKind; readonly reasons: readonly string[]; readonly restartHelps: boolean }[];
  /** Each distinct reason with how many of the workload's pods it applies to. */
  readonly reasons: readonly { readonly kind: FindingKind; readonly reason: string; readonly pods: number }[];
}

export function workloadKey(w: Workload): string {
  return `${w.kind}/${w.namespace}/${w.name}`;
}

/** Groups pod findings by the workload `ownerOf` resolves them to, sorted by namespace, kind and name. */
export function groupByWorkload(findings: readonly PodFinding[], ownerOf: (f: PodFinding) => Workload): WorkloadFindings[] {
  const groups = new Map<string, { workload: Workload; pods: WorkloadFindings['pods'][number][] }>();
  for (const f of findings) {
    const workload = ownerOf(f);
    const key = workloadKey(workload);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { workload, pods: [] }));
    group.pods.push({ pod: f.pod, kind: f.kind, reasons: f.reasons, restartHelps: f.restartHelps });
  }
  return [...groups.values()]
    .sort((a, b) => compare(a.workload.namespace, b.workload.namespace) || compare(a.workload.kind, b.workload.kind) || compare(a.workload.name, b.workload.name))
    .map(({ workload, pods }) => {
      const counts = new Map<string, { kind: FindingKind; reason: string; pods: number }>();
      for (const p of pods) {
        for (const reason of p.reasons) {
          const key = `${p.kind}\0${reason}`;
          const entry = counts.get(key) ?? { kind: p.kind, reason, pods: 0 };
          entry.pods += 1;
          counts.set(key, entry);
        }
      }
      pods.sort((a, b) => compare(a.pod, b.pod));
      return { workload, restartable: RESTARTABLE_KINDS.includes(workload.kind), restartHelps: pods.some((p) => p.restartHelps), pods, reasons: [...counts.values()] };
    });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

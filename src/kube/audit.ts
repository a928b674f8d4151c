// kube edge: `audit`. Pages through the pods (limit/continue) keeping only findings, resolves each finding's
// owner to its workload (Pod -> ReplicaSet -> Deployment, Job -> CronJob; each owner read once), and restarts
// workloads the way `kubectl rollout restart` does. The per-pod rules are in audit-findings.ts.
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ObjectMeta,
  type V1Pod,
} from '@kubernetes/client-node';
import { DEFAULT_CORE_SETTINGS } from '../core/defaults.js';
import { InjectorError } from '../errors.js';
import { loadRegistry } from '../registry/load.js';
import { httpStatusOf, toKubeError } from './api-error.js';
import { analyzePod, groupByWorkload, type AdmissionSetup, type PodFinding, type Workload, type WorkloadFindings } from './audit-findings.js';
import { readClusterVersion, sidecarModeFor } from './cluster-version.js';
import { serverOf } from './kubeconfig.js';
import { FIELD_MANAGER } from './register.js';

export const AUDIT_DEFAULTS = Object.freeze({ pageSize: 500 });
/** The annotation `kubectl rollout restart` sets on the pod template. */
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
/** Owners read at once while resolving workloads. */
const OWNER_CONCURRENCY = 8;

export interface AuditOptions {
  /** One namespace, or every namespace when undefined. */
  readonly namespace?: string | undefined;
  readonly pageSize: number;
  /** The MutatingWebhookConfiguration whose selectors explain misses. */
  readonly configurationName: string;
  /** The user templates serve loads (--templates), on top of the built-ins. */
  readonly templatesDir?: string | undefined;
}

export interface AuditReport {
  readonly server: string;
  readonly scope: string;
  readonly scanned: { readonly pods: number; readonly pages: number };
  /** Pods with a finding. */
  readonly findings: number;
  readonly workloads: readonly WorkloadFindings[];
}

export async function runAudit(kc: KubeConfig, options: AuditOptions): Promise<AuditReport> {
  const server = serverOf(kc);
  // Loaded first: a broken templates directory fails before any cluster call.
  const registry = await loadRegistry(options.templatesDir);
  const version = await readClusterVersion(kc);
  const setup: AdmissionSetup = {
    configuration: await readConfiguration(kc, options.configurationName, server),
    namespaceLabels: await readNamespaceLabels(kc, options.pageSize, server),
    registry,
    settings: { ...DEFAULT_CORE_SETTINGS, defaultSidecarMode: sidecarModeFor(version) },
  };

  // Page by page: only the findings (a few strings each) outlive a page.
  const findings: PodFinding[] = [];
  let pods = 0;
  let pages = 0;
  const core = kc.makeApiClient(CoreV1Api);
  const scope = options.namespace === undefined ? 'all namespaces' : `namespace ${options.namespace}`;
  let token: string | undefined;
  do {
    const request = { limit: options.pageSize, ...(token === undefined ? {} : { _continue: token }) };
    let page;
    try {
      page = options.namespace === undefined ? await core.listPodForAllNamespaces(request) : await core.listNamespacedPod({ ...request, namespace: options.namespace });
    } catch (e) {
      if (httpStatusOf(e) === 410) {
        throw new InjectorError('EI_ERR_KUBE_API', `cannot list pods in ${scope} at ${server}: the list expired while paging (HTTP 410); run audit again (a larger --page-size takes fewer, longer requests)`, { cause: e });
      }
      throw toKubeError(e, `list pods in ${scope} at ${server}`);
    }
    pages += 1;
    pods += page.items.length;
    for (const pod of page.items) {
      const finding = analyzePod(pod, setup);
      if (finding) findings.push(finding);
    }
    token = page.metadata?._continue || undefined;
  } while (token !== undefined);

  const owners = await resolveWorkloads(kc, findings);
  const workloads = groupByWorkload(findings, (f) => owners.get(ownerKey(f)) ?? podAsWorkload(f));
  return { server, scope, scanned: { pods, pages }, findings: findings.length, workloads };
}

async function readConfiguration(kc: KubeConfig, name: string, server: string): Promise<AdmissionSetup['configuration']> {
  try {
    const c = await kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name });
    return { name, createdAt: c.metadata?.creationTimestamp, webhooks: (c.webhooks ?? []).map((w) => ({ namespaceSelector: w.namespaceSelector, objectSelector: w.objectSelector })) };
  } catch (e) {
    if (httpStatusOf(e) === 404) return undefined;
    throw toKubeError(e, `read mutatingwebhookconfigurations/${name} at ${server}`);
  }
}

async function readNamespaceLabels(kc: KubeConfig, limit: number, server: string): Promise<Map<string, Record<string, string>>> {
  const core = kc.makeApiClient(CoreV1Api);
  const labels = new Map<string, Record<string, string>>();
  let token: string | undefined;
  do {
    let page;
    try {
      page = await core.listNamespace({ limit, ...(token === undefined ? {} : { _continue: token }) });
    } catch (e) {
      throw toKubeError(e, `list namespaces at ${server}`);
    }
    for (const ns of page.items) if (ns.metadata?.name) labels.set(ns.metadata.name, ns.metadata.labels ?? {});
    token = page.metadata?._continue || undefined;
  } while (token !== undefined);
  return labels;
}

// ---------------------------------------------------------------------------------------------
// Owners

function ownerKey(f: PodFinding): string {
  return f.owner ? `${f.owner.kind}/${f.namespace}/${f.owner.name}` : `Pod/${f.namespace}/${f.pod}`;
}

function podAsWorkload(f: PodFinding): Workload {
  return { kind: 'Pod', namespace: f.namespace, name: f.pod };
}

/** The workload of every distinct owner among the findings; each ReplicaSet and Job is read once. */
async function resolveWorkloads(kc: KubeConfig, findings: readonly PodFinding[]): Promise<Map<string, Workload>> {
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const pending = new Map<string, PodFinding>();
  for (const f of findings) if (!pending.has(ownerKey(f))) pending.set(ownerKey(f), f);
  const resolved = new Map<string, Workload>();
  const queue = [...pending.entries()];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [key, f] = next;
      resolved.set(key, await workloadOf(f, apps, batch));
    }
  };
  await Promise.all(Array.from({ length: Math.min(OWNER_CONCURRENCY, queue.length) }, worker));
  return resolved;
}

async function workloadOf(f: PodFinding, apps: AppsV1Api, batch: BatchV1Api): Promise<Workload> {
  const owner = f.owner;
  if (!owner) return podAsWorkload(f);
  const self: Workload = { kind: owner.kind, namespace: f.namespace, name: owner.name };
  const parentOf = async (read: () => Promise<{ metadata?: V1ObjectMeta }>, parentKind: string): Promise<Workload> => {
    try {
      const refs = (await read()).metadata?.ownerReferences ?? [];
      const parent = refs.find((r) => r.controller === true && r.kind === parentKind);
      return parent ? { kind: parent.kind, namespace: f.namespace, name: parent.name } : self;
    } catch (e) {
      // Gone since the pod was listed: the pod is then an orphan of that owner; report the owner as is.
      if (httpStatusOf(e) === 404) return self;
      throw toKubeError(e, `read ${owner.kind.toLowerCase()}s/${owner.name} in namespace ${f.namespace}`);
    }
  };
  if (owner.kind === 'ReplicaSet') return parentOf(() => apps.readNamespacedReplicaSet({ name: owner.name, namespace: f.namespace }), 'Deployment');
  if (owner.kind === 'Job') return parentOf(() => batch.readNamespacedJob({ name: owner.name, namespace: f.namespace }), 'CronJob');
  return self;
}

// ---------------------------------------------------------------------------------------------
// Restart

export interface RestartAction {
  readonly workload: Workload;
  readonly action: 'restarted' | 'would-restart' | 'not-restarted' | 'failed';
  readonly message: string;
}

/**
 * Patches `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` (CronJob: the jobTemplate's
 * pod template) with a strategic merge patch, as `kubectl rollout restart` does; with dryRun nothing is sent.
 * Bare pods, lone ReplicaSets and Jobs, and other controllers are listed, never touched.
 */
export async function restartWorkloads(kc: KubeConfig, workloads: readonly WorkloadFindings[], options: { readonly dryRun: boolean; readonly now?: Date }): Promise<RestartAction[]> {
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const now = (options.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const template = { metadata: { annotations: { [RESTARTED_AT]: now } } };
  const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
  const actions: RestartAction[] = [];
  for (const { workload, restartable, restartHelps, reasons } of workloads) {
    const { kind, name, namespace } = workload;
    if (!restartable) {
      actions.push({ workload, action: 'not-restarted', message: NOT_RESTARTABLE[kind] ?? `owned by a ${kind}, which audit does not restart; restart it with that controller's own tooling` });
      continue;
    }
    if (!restartHelps) {
      actions.push({ workload, action: 'not-restarted', message: `new pods would miss injection too; fix the cause first: ${reasons[0]?.reason ?? ''}` });
      continue;
    }
    const cronJob = kind === 'CronJob';
    const body = cronJob ? { spec: { jobTemplate: { spec: { template } } } } : { spec: { template } };
    const done = cronJob ? 'patched its jobTemplate: the next Jobs get the exporter (running Jobs finish as they are)' : `set ${RESTARTED_AT}=${now} on its pod template: the pods are replaced`;
    if (options.dryRun) {
      actions.push({ workload, action: 'would-restart', message: `would have ${done} (--dry-run: nothing sent)` });
      continue;
    }
    const request = { name, namespace, body, fieldManager: FIELD_MANAGER };
    try {
      if (kind === 'Deployment') await apps.patchNamespacedDeployment(request, strategic);
      else if (kind === 'StatefulSet') await apps.patchNamespacedStatefulSet(request, strategic);
      else if (kind === 'DaemonSet') await apps.patchNamespacedDaemonSet(request, strategic);
      else await batch.patchNamespacedCronJob(request, strategic);
      actions.push({ workload, action: 'restarted', message: done });
    } catch (e) {
      actions.push({ workload, action: 'failed', message: toKubeError(e, `patch ${kind.toLowerCase()}s/${name} in namespace ${namespace}`).message });
    }
  }
  return actions;
}

const NOT_RESTARTABLE: Record<string, string> = {
  Pod: 'a bare pod: nothing would recreate it, so audit leaves it; delete and create it again yourself',
  ReplicaSet: 'a ReplicaSet without a Deployment: delete its pods and it creates them again',
  Job: "a Job's pod template cannot change: its pods get the exporter when the Job is created again",
};

// ---------------------------------------------------------------------------------------------
// Output

export function auditDocument(report: AuditReport, restarts: readonly RestartAction[] | undefined): unknown {
  return {
    server: report.server,
    scope: report.scope,
    scanned: report.scanned,
    findings: report.findings,
    workloads: report.workloads.map((w) => ({ ...w.workload, restartable: w.restartable, restartHelps: w.restartHelps, reasons: w.reasons, pods: w.pods })),
    ...(restarts ? { restarts: restarts.map((r) => ({ ...r.workload, action: r.action, message: r.message })) } : {}),
  };
}

/** The table: one row per workload and distinct reason, then what to do (or what --restart did). */
export function formatAuditTable(report: AuditReport, restarts: readonly RestartAction[] | undefined): string {
  const scanned = `scanned ${report.scanned.pods} pods in ${report.scope} (${report.scanned.pages} page${report.scanned.pages === 1 ? '' : 's'})`;
  if (report.workloads.length === 0) return `no findings: every opted-in pod is injected from the current templates; ${scanned}\n`;
  const rows: string[][] = [['WORKLOAD', 'NAMESPACE', 'PODS', 'FINDING', 'REASON']];
  for (const w of report.workloads) {
    w.reasons.forEach((r, i) => rows.push(i === 0 ? [ref(w.workload), w.workload.namespace, String(w.pods.length), r.kind, withCount(r.reason, r.pods, w.pods.length)] : ['', '', '', r.kind, withCount(r.reason, r.pods, w.pods.length)]));
  }
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]! + 2))).join('').trimEnd());
  const restartable = report.workloads.filter((w) => w.restartable && w.restartHelps);
  const blocked = report.workloads.filter((w) => w.restartable && !w.restartHelps);
  const others = report.workloads.filter((w) => !w.restartable);
  lines.push('', `${report.findings} pod${report.findings === 1 ? '' : 's'} in ${report.workloads.length} workload${report.workloads.length === 1 ? '' : 's'}; ${scanned}`);
  if (restarts) {
    for (const r of restarts) lines.push(`${r.action === 'restarted' ? 'restarted' : r.action === 'would-restart' ? 'would restart' : r.action === 'failed' ? 'FAILED' : 'not restarted'}: ${ref(r.workload)} in ${r.workload.namespace}: ${r.message}`);
  } else {
    if (restartable.length > 0) lines.push(`restart ${restartable.length === 1 ? 'it' : `these ${restartable.length}`} with: exporter-injector audit --restart${report.scope === 'all namespaces' ? '' : ` -n ${report.workloads[0]?.workload.namespace}`}`);
    if (blocked.length > 0) lines.push(`fix the cause first (a restart would miss injection again): ${blocked.map((w) => `${ref(w.workload)} in ${w.workload.namespace}`).join(', ')}`);
    if (others.length > 0) lines.push(`not restartable by audit (recreate their pods yourself): ${others.map((w) => `${ref(w.workload)} in ${w.workload.namespace}`).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

function ref(w: Workload): string {
  return `${w.kind.toLowerCase()}/${w.name}`;
}

function withCount(reason: string, pods: number, of: number): string {
  return pods === of ? reason : `(${pods} of ${of}) ${reason}`;
}

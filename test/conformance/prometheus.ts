// Steps 4 and 5: a real Prometheus with the standard annotation-driven `kubernetes-pods` job, fed
// through file-based discovery with the labels Kubernetes pod discovery gives a pod, and queried
// through its HTTP API.
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Container } from '@kubernetes/client-node';
import type { Pod } from '../../src/core/types.js';
import { freePort, retry, start, stop, type Started } from './procs.js';

export const JOB = 'kubernetes-pods';

/** Prometheus' label name sanitisation (strutil.SanitizeLabelName). */
export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/**
 * The targets the `pod` role produces for one running pod: one per declared container port (init
 * containers included, flagged by __meta_kubernetes_pod_container_init), one without a port for a
 * container that declares none. Only what the standard job reads and a few identity labels.
 */
export function podTargets(pod: Pod, podIP: string): TargetGroup[] {
  const common: Record<string, string> = {
    __meta_kubernetes_namespace: pod.metadata?.namespace ?? 'default',
    __meta_kubernetes_pod_name: pod.metadata?.name ?? '',
    __meta_kubernetes_pod_ip: podIP,
    __meta_kubernetes_pod_ready: 'true',
    __meta_kubernetes_pod_phase: 'Running',
    __meta_kubernetes_pod_node_name: 'conformance-node',
    __meta_kubernetes_pod_host_ip: podIP,
  };
  for (const [key, value] of Object.entries(pod.metadata?.labels ?? {})) {
    common[`__meta_kubernetes_pod_label_${sanitizeLabelName(key)}`] = value;
    common[`__meta_kubernetes_pod_labelpresent_${sanitizeLabelName(key)}`] = 'true';
  }
  for (const [key, value] of Object.entries(pod.metadata?.annotations ?? {})) {
    common[`__meta_kubernetes_pod_annotation_${sanitizeLabelName(key)}`] = value;
    common[`__meta_kubernetes_pod_annotationpresent_${sanitizeLabelName(key)}`] = 'true';
  }
  const groups: TargetGroup[] = [];
  const add = (containers: V1Container[] | undefined, init: boolean) => {
    for (const c of containers ?? []) {
      const container = {
        __meta_kubernetes_pod_container_name: c.name,
        __meta_kubernetes_pod_container_image: c.image ?? '',
        __meta_kubernetes_pod_container_init: String(init),
      };
      if (!c.ports || c.ports.length === 0) {
        groups.push({ targets: [podIP], labels: { ...common, ...container } });
        continue;
      }
      for (const p of c.ports) {
        groups.push({
          targets: [`${podIP}:${p.containerPort}`],
          labels: {
            ...common,
            ...container,
            ...(p.name ? { __meta_kubernetes_pod_container_port_name: p.name } : {}),
            __meta_kubernetes_pod_container_port_number: String(p.containerPort),
            __meta_kubernetes_pod_container_port_protocol: p.protocol ?? 'TCP',
          },
        });
      }
    }
  };
  add(pod.spec?.containers, false);
  add(pod.spec?.initContainers, true);
  return groups;
}

/** The PodMonitor the prometheus-operator overlay ships, read from the repository as users apply it. */
export const PODMONITOR_FILE = fileURLToPath(new URL('../../deploy/overlays/prometheus-operator/podmonitor.yaml', import.meta.url));

interface OperatorRelabeling {
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  replacement?: string;
  action?: string;
}

/** A job name per PodMonitor endpoint, as prometheus-operator names them. */
export const podMonitorJob = (name: string, namespace: string, endpoint: number) => `podMonitor/${namespace}/${name}/${endpoint}`;

/**
 * The scrape jobs prometheus-operator generates from the shipped PodMonitor, one per endpoint: its
 * selector as a keep on the pod label, then the endpoint's relabelings translated field by field
 * (camelCase to snake_case; the operator passes them through unchanged), then the namespace and pod
 * labels the operator adds. The endpoint's interval is not taken: the suite scrapes every second.
 */
export function podMonitorJobs(sdDir: string): string {
  const monitor = parse(readFileSync(PODMONITOR_FILE, 'utf8')) as {
    metadata: { name: string; namespace: string };
    spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { path?: string; scheme?: string; relabelings?: OperatorRelabeling[] }[] };
  };
  const q = (v: string) => JSON.stringify(v);
  return monitor.spec.podMetricsEndpoints
    .map((endpoint, i) => {
      const selector = Object.entries(monitor.spec.selector.matchLabels).map(
        ([k, v]) => `      - source_labels: [__meta_kubernetes_pod_label_${sanitizeLabelName(k)}]\n        regex: ${q(v)}\n        action: keep`,
      );
      const translated = (endpoint.relabelings ?? []).map((r) =>
        [
          r.sourceLabels ? `      - source_labels: [${r.sourceLabels.join(', ')}]` : '      - {}',
          r.separator !== undefined ? `        separator: ${q(r.separator)}` : '',
          r.targetLabel !== undefined ? `        target_label: ${r.targetLabel}` : '',
          r.regex !== undefined ? `        regex: ${q(r.regex)}` : '',
          r.replacement !== undefined ? `        replacement: ${q(r.replacement)}` : '',
          r.action !== undefined ? `        action: ${r.action.toLowerCase()}` : '',
        ]
          .filter((line) => line !== '')
          .join('\n'),
      );
      const identity = [
        '      - source_labels: [__meta_kubernetes_namespace]\n        target_label: namespace',
        '      - source_labels: [__meta_kubernetes_pod_name]\n        target_label: pod',
      ];
      return `  - job_name: ${q(podMonitorJob(monitor.metadata.name, monitor.metadata.namespace, i))}
    honor_labels: false
    metrics_path: ${q(endpoint.path ?? '/metrics')}
    scheme: ${endpoint.scheme ?? 'http'}
    file_sd_configs:
      - files: ['${sdDir}/*.json']
        refresh_interval: 1s
    relabel_configs:
${[...selector, ...translated, ...identity].join('\n')}
`;
    })
    .join('');
}

/** The job as the prometheus-community chart and most guides write it, and the PodMonitor's jobs. */
export function scrapeConfig(sdDir: string): string {
  return `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ${JOB}
    honor_labels: true
    file_sd_configs:
      - files: ['${sdDir}/*.json']
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: true
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scheme]
        action: replace
        regex: (https?)
        target_label: __scheme__
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        action: replace
        target_label: __metrics_path__
        regex: (.+)
      - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
        action: replace
        regex: ([^:]+)(?::\\d+)?;(\\d+)
        replacement: $1:$2
        target_label: __address__
      - action: labelmap
        regex: __meta_kubernetes_pod_label_(.+)
      - source_labels: [__meta_kubernetes_namespace]
        action: replace
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        action: replace
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_phase]
        regex: Pending|Succeeded|Failed|Completed
        action: drop
${podMonitorJobs(sdDir)}`;
}

export interface Prometheus {
  readonly url: string;
  readonly version: string;
  /** Makes the pod discoverable (one file per pod, replaced atomically). */
  publish(pod: Pod): Promise<void>;
  withdraw(podName: string): Promise<void>;
  /** The value of an instant query that must return exactly one series; undefined when it returns none. */
  value(query: string): Promise<number | undefined>;
  /** The active target of a pod, with Prometheus' own view of its last scrape. */
  target(podName: string): Promise<ActiveTarget | undefined>;
  /** Every active target of a pod, in every job. */
  targets(podName: string): Promise<ActiveTarget[]>;
  stop(): Promise<void>;
  output(): string;
}

export interface ActiveTarget {
  scrapeUrl: string;
  health: string;
  lastError: string;
  labels: Record<string, string>;
}

interface ApiAnswer<T> {
  status: string;
  data: T;
  error?: string;
}

async function api<T>(base: string, path: string): Promise<T> {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as ApiAnswer<T>;
  if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
  return body.data;
}

export async function startPrometheus(binary: string, workDir: string, version: string): Promise<Prometheus> {
  const sdDir = join(workDir, 'sd');
  const dataDir = join(workDir, 'data');
  await mkdir(sdDir, { recursive: true });
  await mkdir(dataDir, { recursive: true });
  const configFile = join(workDir, 'prometheus.yml');
  await writeFile(configFile, scrapeConfig(sdDir));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc: Started = start('prometheus', binary, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${dataDir}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1h',
    '--log.level=warn',
  ], { cwd: workDir });
  await retry('Prometheus readiness', 30_000, async () => {
    if (proc.exit() !== null) throw new Error(`prometheus exited (${proc.exit()}): ${proc.output().slice(-800)}`);
    const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
    if (res.status !== 200) throw new Error(`/-/ready answered ${res.status}`);
  }).catch(async (err: unknown) => {
    await stop(proc);
    throw err;
  });

  return {
    url,
    version,
    output: () => proc.output(),
    async publish(pod) {
      const name = pod.metadata?.name ?? 'pod';
      const file = join(sdDir, `${name}.json`);
      await writeFile(`${file}.tmp`, JSON.stringify(podTargets(pod, '127.0.0.1'), null, 2));
      await rename(`${file}.tmp`, file);
    },
    async withdraw(podName) {
      await rm(join(sdDir, `${podName}.json`), { force: true });
    },
    async value(query) {
      const data = await api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(
        url,
        `/api/v1/query?query=${encodeURIComponent(query)}`,
      );
      if (data.result.length === 0) return undefined;
      if (data.result.length > 1) throw new Error(`query ${query} returned ${data.result.length} series; expected one`);
      return Number(data.result[0]?.value[1]);
    },
    async target(podName) {
      const data = await api<{ activeTargets: ActiveTarget[] }>(url, '/api/v1/targets?state=active');
      return data.activeTargets.find((t) => t.labels.pod === podName && t.labels.job === JOB);
    },
    async targets(podName) {
      const data = await api<{ activeTargets: ActiveTarget[] }>(url, '/api/v1/targets?state=active');
      return data.activeTargets.filter((t) => t.labels.pod === podName);
    },
    async stop() {
      await stop(proc);
    },
  };
}

/** Polls `check` until it returns a result or `timeoutMs` passes; returns the last failure reason otherwise. */
export async function pollUntil<T>(timeoutMs: number, check: () => Promise<{ done: true; value: T } | { done: false; why: string }>): Promise<{ ok: true; value: T } | { ok: false; why: string }> {
  const deadline = Date.now() + timeoutMs;
  let why = 'never checked';
  while (Date.now() < deadline) {
    try {
      const result = await check();
      if (result.done) return { ok: true, value: result.value };
      why = result.why;
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    }
    await sleep(500);
  }
  return { ok: false, why };
}

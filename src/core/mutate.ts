// Stage 4a: what an opt-in changes in the pod: exporter containers, volumes, scrape annotations,
// the injected label and the status record. Clashes with what the pod already has are problems.
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import { ANNOTATION, INJECTED_LABEL, type OptIn } from './annotations.js';
import { renderExporterCached, type RenderedExporter, type RenderResult } from './render.js';
import type { InjectionStatus } from './status.js';
import { PREFIX, type Container, type CoreSettings, type Pod, type Problem, type Registry, type SidecarMode } from './types.js';
import { closest, imageRepository } from './values.js';

/**
 * What an injection changes in the pod, and nothing else: the pod itself is never copied (the
 * patch is built from these, core/patch.ts). Lists are appended to; map entries are set, adding
 * the key or replacing the pod's own value.
 */
export interface PodChanges {
  /** initContainers for native sidecars, containers for classic ones. */
  readonly sidecarList: 'initContainers' | 'containers';
  readonly sidecars: readonly Container[];
  readonly volumes: readonly V1Volume[];
  readonly annotations: readonly (readonly [string, string])[];
  readonly labels: readonly (readonly [string, string])[];
}

export type InjectionResult =
  | { ok: true; changes: PodChanges; templates: string[]; warnings: string[] }
  | { ok: false; problems: Problem[]; warnings: string[] };

const PROMETHEUS = 'prometheus.io/';
/** The scrape annotations, as constants: the same string objects every time, hashed once. */
const SCRAPE = Object.freeze({ scrape: `${PROMETHEUS}scrape`, port: `${PROMETHEUS}port`, path: `${PROMETHEUS}path`, scheme: `${PROMETHEUS}scheme` });
const INJECTED_LABELS: PodChanges['labels'] = Object.freeze([Object.freeze([INJECTED_LABEL, 'true'] as const)]);

/**
 * Per-exporter scrape annotations, `metrics.exporter-injector.io/<slot>: "<portName> <scheme> <path>"`,
 * one per exporter in the order injected. The shipped PodMonitor has one endpoint per slot and keeps
 * the target whose port name equals the slot's (relabel action keepequal), with that path and scheme:
 * a relabeling cannot look a value up by the target's port name, but it can compare against a label
 * of a fixed name. Outside our `exporter-injector.io/` prefix, whose keys are the pod's input.
 */
export const SCRAPE_SLOT_PREFIX = 'metrics.exporter-injector.io/';
/** Endpoints of the shipped PodMonitor; exporters beyond this count need an endpoint added. */
export const SCRAPE_SLOTS = 4;
const SLOT_KEYS = Array.from({ length: SCRAPE_SLOTS }, (_, slot) => `${SCRAPE_SLOT_PREFIX}${slot}`);
const slotKey = (slot: number): string => SLOT_KEYS[slot] ?? `${SCRAPE_SLOT_PREFIX}${slot}`;

const slotValues = new WeakMap<RenderedExporter, string>();
/** `<portName> <scheme> <path>`, kept with the (cached) rendering. */
function scrapeSlotValue(exporter: RenderedExporter): string {
  let value = slotValues.get(exporter);
  if (value === undefined) slotValues.set(exporter, (value = `${exporter.template.portName} ${exporter.template.scheme} ${exporter.path}`));
  return value;
}

function allContainers(pod: Pod): { container: V1Container; where: string }[] {
  const spec = pod.spec;
  return [
    ...(spec?.initContainers ?? []).map((container) => ({ container, where: 'init container' })),
    ...(spec?.containers ?? []).map((container) => ({ container, where: 'container' })),
    ...((spec?.ephemeralContainers ?? []) as V1Container[]).map((container) => ({ container, where: 'ephemeral container' })),
  ];
}

/** Every port the exporter binds: the metrics port and the template's other listening ports. */
function boundPorts(exporter: RenderedExporter): { port: number; protocol: string; what: string; param?: string }[] {
  return [
    { port: exporter.port, protocol: 'TCP', what: 'metrics port', param: 'port' },
    ...(exporter.template.listens ?? []).map((l) => ({ port: l.port, protocol: l.protocol, what: l.description })),
  ];
}

function clashes(pod: Pod, result: RenderResult, earlier: readonly RenderedExporter[]): Problem[] {
  const problems: Problem[] = [];
  const { exporter, invalid } = result;
  const { template, container } = exporter;
  const existing = allContainers(pod);

  const nameOwner = existing.find((c) => c.container.name === container.name);
  if (nameOwner || earlier.some((e) => e.container.name === container.name)) {
    problems.push({
      code: 'EI_ERR_CLASH_CONTAINER',
      message: `template "${template.name}": the pod already has a ${nameOwner?.where ?? 'container'} named "${container.name}"; rename that container or remove "${template.name}" from ${ANNOTATION.inject}`,
    });
  }

  const repo = imageRepository(exporter.container.image ?? '');
  const sameImage = invalid.has('image') ? undefined : existing.find((c) => c.container.image !== undefined && imageRepository(c.container.image) === repo);
  if (sameImage) {
    const kind = sameImage.container.restartPolicy === 'Always' ? 'native sidecar' : sameImage.where;
    problems.push({
      code: 'EI_ERR_CLASH_EXPORTER',
      message: `template "${template.name}": the pod already runs ${repo} in ${kind} "${sameImage.container.name}"; remove that container or remove "${template.name}" from ${ANNOTATION.inject}`,
    });
  }

  // Ports clash by number and protocol (a pod may use 53/UDP and 53/TCP in different containers).
  for (const bound of boundPorts(exporter)) {
    if (bound.param === 'port' && invalid.has('port')) continue;
    const same = (p: { containerPort?: number; port?: number; protocol?: string }) => (p.containerPort ?? p.port) === bound.port && (p.protocol ?? 'TCP') === bound.protocol;
    const portOwner = existing.find((c) => (c.container.ports ?? []).some(same));
    const earlierOwner = earlier.find((e) => boundPorts(e).some(same));
    if (!portOwner && !earlierOwner) continue;
    const owner = portOwner ? `${portOwner.where} "${portOwner.container.name}"` : `exporter "${earlierOwner?.template.name}"`;
    const fix = bound.param !== undefined ? `set ${PREFIX}${template.name}.${bound.param} to a free port` : `the exporter's ${bound.what} cannot move: move the other port or remove "${template.name}" from ${ANNOTATION.inject}`;
    problems.push({
      code: 'EI_ERR_CLASH_PORT',
      message: `template "${template.name}": port ${bound.port}${bound.param === 'port' ? '' : `/${bound.protocol} (${bound.what})`} is already used by ${owner}; ${fix}`,
    });
  }

  // Port names are unique in a pod: the API server refuses a second one.
  const portName = template.portName;
  const nameUser = existing.find((c) => (c.container.ports ?? []).some((p) => p.name === portName));
  const earlierNamer = earlier.find((e) => e.template.portName === portName);
  if (nameUser || earlierNamer) {
    const owner = nameUser ? `${nameUser.where} "${nameUser.container.name}"` : `exporter "${earlierNamer?.template.name}"`;
    problems.push({
      code: 'EI_ERR_CLASH_PORT',
      message: `template "${template.name}": port name "${portName}" is already used by ${owner}; port names must be unique in a pod: rename that port, or give one of the templates another portName`,
    });
  }

  const podVolumes = new Set((pod.spec?.volumes ?? []).map((v) => v.name));
  for (const v of exporter.volumes) {
    if (podVolumes.has(v.name) || earlier.some((e) => e.volumes.some((ev) => ev.name === v.name))) {
      problems.push({ code: 'EI_ERR_CLASH_VOLUME', message: `template "${template.name}": the pod already has a volume named "${v.name}"; rename that volume` });
    }
  }
  for (const name of exporter.podVolumes) {
    if (!podVolumes.has(name)) {
      const hint = closest(name, podVolumes);
      problems.push({
        code: 'EI_ERR_PARAM_INVALID',
        message: `template "${template.name}": the pod has no volume named "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; valid: ${[...podVolumes].join(', ') || 'the pod has no volumes'}`,
      });
    }
  }

  if (template.requires.shareProcessNamespace && pod.spec?.shareProcessNamespace !== true) {
    problems.push({
      code: 'EI_ERR_POD_REQUIREMENT',
      message: `template "${template.name}" reads the other containers' processes: set spec.shareProcessNamespace: true in the pod (the injector never grants it by itself)`,
    });
  }
  const fsGroupWhy = exporter.requires.get('fsGroup');
  if (fsGroupWhy !== undefined && pod.spec?.securityContext?.fsGroup === undefined) {
    problems.push({
      code: 'EI_ERR_POD_REQUIREMENT',
      message: `template "${template.name}": ${fsGroupWhy}: set spec.securityContext.fsGroup in the pod (any GID, e.g. 2000; the injector never sets it, because it also changes the group of the app's volumes)`,
    });
  }
  return problems;
}

const statusCache = new WeakMap<RenderedExporter, string>();

/** The status annotation's value; for the usual single exporter, kept with its (cached) rendering. */
function statusOf(rendered: readonly RenderedExporter[], mode: SidecarMode): string {
  const single = rendered.length === 1 ? rendered[0] : undefined;
  const known = single && statusCache.get(single);
  if (known) return known;
  const status: InjectionStatus = {
    templates: rendered.map((e) => ({ name: e.template.name, version: e.template.version, hash: e.template.hash, container: e.container.name })),
    sidecar: mode,
  };
  const json = JSON.stringify(status);
  if (single) statusCache.set(single, json);
  return json;
}

export function planInjection(pod: Pod, optIn: OptIn, registry: Registry, settings: CoreSettings): InjectionResult {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const mode = optIn.sidecar ?? settings.defaultSidecarMode;

  const rendered: RenderedExporter[] = [];
  for (const name of optIn.templates) {
    const template = registry.templates.get(name);
    if (!template) {
      const hint = closest(name, registry.templates.keys());
      problems.push({
        code: 'EI_ERR_TEMPLATE_UNKNOWN',
        message: `annotation ${ANNOTATION.inject}: unknown template "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; known templates: ${[...registry.templates.keys()].sort().join(', ')}`,
      });
      continue;
    }
    const result = renderExporterCached(template, optIn.params.get(name) ?? new Map(), mode, optIn.runAsUser ?? settings.runAsUser ?? 'template');
    // The pod-level checks run even when a value was refused, so a denial lists every problem.
    problems.push(...result.problems, ...clashes(pod, result, rendered));
    warnings.push(...result.exporter.warnings);
    rendered.push(result.exporter);
  }
  problems.push(...runToCompletionProblems(pod, mode));
  if (problems.length > 0) return { ok: false, problems, warnings };

  const sidecars = rendered.map((e) => e.container);
  const volumes = rendered.flatMap((e) => e.volumes);
  const own = pod.metadata?.annotations ?? {};
  const annotations: [string, string][] = [];
  const first = rendered[0];
  if (first) {
    const hasOwn = Object.keys(own).some((k) => k.startsWith(PROMETHEUS));
    if (optIn.scrape === 'override' || (optIn.scrape === 'auto' && !hasOwn)) {
      annotations.push([SCRAPE.scrape, 'true'], [SCRAPE.port, String(first.port)], [SCRAPE.path, first.path], [SCRAPE.scheme, first.template.scheme]);
      const replaced = annotations.filter(([k, v]) => own[k] !== undefined && own[k] !== v);
      if (replaced.length > 0) {
        warnings.push(
          `${ANNOTATION.scrape}: override replaced the pod's own ${replaced.map(([k, v]) => `${k} ${JSON.stringify(own[k])} -> ${JSON.stringify(v)}`).join(', ')}; the app's own metrics are no longer scraped through these annotations`,
        );
      }
    } else if (optIn.scrape === 'auto') {
      warnings.push(
        `the pod's own prometheus.io/* annotations were kept; the ${first.template.name} exporter is exposed on port ${first.template.portName} (${first.port}): scrape it with a PodMonitor, or set ${ANNOTATION.scrape}: override`,
      );
    }
    if (rendered.length > 1 && optIn.scrape !== 'off') {
      warnings.push(
        `prometheus.io/* annotations can point at one port only (${first.template.name}); the others (${rendered.slice(1).map((e) => e.template.portName).join(', ')}) are scraped by the shipped PodMonitor (or an equivalent job) through the ${SCRAPE_SLOT_PREFIX}<n> annotations`,
      );
    }
  }
  rendered.forEach((e, slot) => annotations.push([slotKey(slot), scrapeSlotValue(e)]));
  if (rendered.length > SCRAPE_SLOTS) {
    warnings.push(
      `the shipped PodMonitor scrapes ${SCRAPE_SLOTS} exporters per pod; ${rendered.slice(SCRAPE_SLOTS).map((e) => e.template.name).join(', ')} (${SCRAPE_SLOT_PREFIX}${SCRAPE_SLOTS} and on) need an endpoint added to it`,
    );
  }
  if (pod.spec?.hostNetwork === true) {
    warnings.push(`the pod uses hostNetwork: exporter ports (${rendered.map((e) => e.port).join(', ')}) are opened on the node's network`);
  }
  annotations.push([ANNOTATION.status, statusOf(rendered, mode)]);

  const changes: PodChanges = {
    // Appended after the pod's own init containers, so those still run first and unchanged.
    sidecarList: mode === 'native' ? 'initContainers' : 'containers',
    sidecars,
    volumes,
    annotations,
    labels: INJECTED_LABELS,
  };
  return { ok: true, changes, templates: rendered.map((e) => e.template.name), warnings };
}

/**
 * A pod that runs to completion (a Job's or CronJob's: restartPolicy Never or OnFailure) must get a
 * native sidecar: a classic exporter container never exits, so the pod, and its Job, would never
 * finish. Refused rather than warned about, because the Job hangs silently (docs/annotations.md).
 */
function runToCompletionProblems(pod: Pod, mode: SidecarMode): Problem[] {
  const restartPolicy = pod.spec?.restartPolicy;
  if (mode !== 'classic' || (restartPolicy !== 'Never' && restartPolicy !== 'OnFailure')) return [];
  return [
    {
      code: 'EI_ERR_POD_REQUIREMENT',
      message: `the pod runs to completion (restartPolicy ${restartPolicy}, as Job and CronJob pods do) but the sidecar mode is classic: the exporter would be a regular container that never exits, so the pod and its Job would never finish; set ${ANNOTATION.sidecar}: native (Kubernetes >= 1.29), or do not inject exporters into batch pods`,
    },
  ];
}

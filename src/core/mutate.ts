// Stage 4a: what an opt-in changes in the pod: exporter containers, volumes, scrape annotations,
// the injected label and the status record. Clashes with what the pod already has are problems.
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import { ANNOTATION, INJECTED_LABEL, type OptIn } from './annotations.js';
import { deepFreeze } from './freeze.js';
import { KeyedCache } from './keyed-cache.js';
import { renderExporterCached, type BoundPort, type RenderedExporter, type RenderResult } from './render.js';
import type { InjectionStatus } from './status.js';
import { CONTAINER_LISTS, PREFIX, type Container, type CoreSettings, type Pod, type Problem, type Registry, type SidecarMode } from './types.js';
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
  | { ok: true; changes: PodChanges; templates: readonly string[]; warnings: string[] }
  | { ok: false; problems: Problem[]; warnings: string[] };

const PROMETHEUS = 'prometheus.io/';
/** The scrape annotations. */
const SCRAPE = Object.freeze({ scrape: `${PROMETHEUS}scrape`, port: `${PROMETHEUS}port`, path: `${PROMETHEUS}path`, scheme: `${PROMETHEUS}scheme` });

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

/** A container of the pod, and which kind it is (init container, container, ephemeral container). */
interface Owner {
  readonly container: V1Container;
  readonly where: string;
}

/** For each clash an exporter's container can have, the first of the pod's containers that has it. */
interface ContainerClaims {
  /** Has the exporter container's name. */
  nameOwner?: Owner;
  /** Runs the exporter's image repository. */
  sameImage?: Owner;
  /** Has a port with the exporter's port name. */
  portNameUser?: Owner;
  /** Binds each of the exporter's ports (by index in `binds`), number and protocol alike. */
  readonly portOwners: (Owner | undefined)[];
}

const samePort = (p: { containerPort?: number; port?: number; protocol?: string }, bound: BoundPort): boolean =>
  (p.containerPort ?? p.port) === bound.port && (p.protocol ?? 'TCP') === bound.protocol;

/**
 * One walk over the pod's containers (init, app, ephemeral, in that order) for every clash check,
 * keeping the first owner of each: this runs for every injection, and one walk touches the pod
 * once instead of once per check. `repo` undefined: the image is not checked; `binds` holds the
 * ports to check (undefined entries are skipped).
 */
function containerClaims(pod: Pod, exporter: RenderedExporter, repo: string | undefined, binds: readonly (BoundPort | undefined)[]): ContainerClaims {
  const claims: ContainerClaims = { portOwners: [] };
  const spec = pod.spec;
  if (!spec) return claims;
  const { name } = exporter.container;
  const { portName } = exporter.template;
  for (const [list, where] of CONTAINER_LISTS) {
    const containers = spec[list] as V1Container[] | undefined;
    if (!containers) continue;
    for (const container of containers) {
      if (claims.nameOwner === undefined && container.name === name) claims.nameOwner = { container, where };
      // An image of that repository contains its name: most images are ruled out without parsing them.
      if (repo !== undefined && claims.sameImage === undefined && container.image?.includes(repo) === true && imageRepository(container.image) === repo) {
        claims.sameImage = { container, where };
      }
      for (const port of container.ports ?? []) {
        if (claims.portNameUser === undefined && port.name === portName) claims.portNameUser = { container, where };
        for (let i = 0; i < binds.length; i += 1) {
          const bound = binds[i];
          if (bound !== undefined && claims.portOwners[i] === undefined && samePort(port, bound)) claims.portOwners[i] = { container, where };
        }
      }
    }
  }
  return claims;
}

function clashes(pod: Pod, result: RenderResult, earlier: readonly RenderedExporter[]): Problem[] {
  const problems: Problem[] = [];
  const { exporter, invalid } = result;
  const { template, container } = exporter;

  const repo = exporter.imageRepository;
  // A port value that was refused is not checked for clashes: its problem is already reported.
  const binds = exporter.binds.map((bound) => (bound.param === 'port' && invalid.has('port') ? undefined : bound));
  const { nameOwner, sameImage, portNameUser, portOwners } = containerClaims(pod, exporter, invalid.has('image') ? undefined : repo, binds);

  if (nameOwner || earlier.some((e) => e.container.name === container.name)) {
    problems.push({
      code: 'EI_ERR_CLASH_CONTAINER',
      message: `template "${template.name}": the pod already has a ${nameOwner?.where ?? 'container'} named "${container.name}"; rename that container or remove "${template.name}" from ${ANNOTATION.inject}`,
    });
  }

  if (sameImage) {
    const kind = sameImage.container.restartPolicy === 'Always' ? 'native sidecar' : sameImage.where;
    problems.push({
      code: 'EI_ERR_CLASH_EXPORTER',
      message: `template "${template.name}": the pod already runs ${repo} in ${kind} "${sameImage.container.name}"; remove that container or remove "${template.name}" from ${ANNOTATION.inject}`,
    });
  }

  // Ports clash by number and protocol (a pod may use 53/UDP and 53/TCP in different containers).
  binds.forEach((bound, i) => {
    if (bound === undefined) return;
    const portOwner = portOwners[i];
    const earlierOwner = earlier.find((e) => e.binds.some((b) => samePort(b, bound)));
    if (!portOwner && !earlierOwner) return;
    const owner = portOwner ? `${portOwner.where} "${portOwner.container.name}"` : `exporter "${earlierOwner?.template.name}"`;
    const fix = bound.param !== undefined ? `set ${PREFIX}${template.name}.${bound.param} to a free port` : `the exporter's ${bound.what} cannot move: move the other port or remove "${template.name}" from ${ANNOTATION.inject}`;
    problems.push({
      code: 'EI_ERR_CLASH_PORT',
      message: `template "${template.name}": port ${bound.port}${bound.param === 'port' ? '' : `/${bound.protocol} (${bound.what})`} is already used by ${owner}; ${fix}`,
    });
  });

  // Port names are unique in a pod: the API server refuses a second one.
  const portName = template.portName;
  const earlierNamer = earlier.find((e) => e.template.portName === portName);
  if (portNameUser || earlierNamer) {
    const owner = portNameUser ? `${portNameUser.where} "${portNameUser.container.name}"` : `exporter "${earlierNamer?.template.name}"`;
    problems.push({
      code: 'EI_ERR_CLASH_PORT',
      message: `template "${template.name}": port name "${portName}" is already used by ${owner}; port names must be unique in a pod: rename that port, or give one of the templates another portName`,
    });
  }

  // Most exporters have no volumes: no set of the pod's volume names for them.
  if (exporter.volumes.length > 0 || exporter.podVolumes.length > 0) volumeProblems(pod, exporter, earlier, problems);

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

/** Volumes the exporter adds that the pod (or an earlier exporter) already has; pod volumes it mounts that the pod lacks. */
function volumeProblems(pod: Pod, exporter: RenderedExporter, earlier: readonly RenderedExporter[], problems: Problem[]): void {
  const { template } = exporter;
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
}

/** What an injection changes (and names), frozen: core/patch.ts keeps the patches of frozen changes. */
interface Injection {
  readonly changes: PodChanges;
  readonly templates: readonly string[];
}

/**
 * Injections made before: an injection depends only on the renderings (cached, core/render.ts), the
 * sidecar mode and whether the scrape annotations are set, and every pod of a workload asks for the
 * same. Kept by the first rendering; the key names the rest by a number each.
 */
const injections = new KeyedCache<RenderedExporter, Injection>(1024);
const SCRAPED: Readonly<Record<SidecarMode, string>> = { native: 'native+scrape', classic: 'classic+scrape' };
const renderingIds = new WeakMap<RenderedExporter, number>();
let nextRenderingId = 0;

function renderingId(exporter: RenderedExporter): number {
  let id = renderingIds.get(exporter);
  if (id === undefined) renderingIds.set(exporter, (id = nextRenderingId++));
  return id;
}

function injectionOf(rendered: readonly [RenderedExporter, ...RenderedExporter[]], mode: SidecarMode, scrape: boolean): Injection {
  const [first] = rendered;
  // Constants for the usual single exporter: a string built once is hashed once.
  const variant = scrape ? SCRAPED[mode] : mode;
  const key = rendered.length === 1 ? variant : `${variant}/${rendered.slice(1).map(renderingId).join(',')}`;
  return injections.get(first, key) ?? injections.set(first, key, deepFreeze(makeInjection(rendered, mode, scrape)));
}

function makeInjection(rendered: readonly [RenderedExporter, ...RenderedExporter[]], mode: SidecarMode, scrape: boolean): Injection {
  const [first] = rendered;
  const annotations: [string, string][] = [];
  if (scrape) annotations.push([SCRAPE.scrape, 'true'], [SCRAPE.port, String(first.port)], [SCRAPE.path, first.path], [SCRAPE.scheme, first.template.scheme]);
  rendered.forEach((e, slot) => annotations.push([`${SCRAPE_SLOT_PREFIX}${slot}`, `${e.template.portName} ${e.template.scheme} ${e.path}`]));
  const status: InjectionStatus = {
    templates: rendered.map((e) => ({ name: e.template.name, version: e.template.version, hash: e.template.hash, container: e.container.name })),
    sidecar: mode,
  };
  annotations.push([ANNOTATION.status, JSON.stringify(status)]);
  const changes: PodChanges = {
    // Appended after the pod's own init containers, so those still run first and unchanged.
    sidecarList: mode === 'native' ? 'initContainers' : 'containers',
    sidecars: rendered.map((e) => e.container),
    volumes: rendered.flatMap((e) => e.volumes),
    annotations,
    labels: [[INJECTED_LABEL, 'true']],
  };
  return { changes, templates: rendered.map((e) => e.template.name) };
}

/** The params of a template the pod sets none for. */
const NO_PARAM_VALUES: ReadonlyMap<string, string> = new Map();

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
    const result = renderExporterCached(template, optIn.params.get(name) ?? NO_PARAM_VALUES, mode, optIn.runAsUser ?? settings.runAsUser ?? 'template');
    // The pod-level checks run even when a value was refused, so a denial lists every problem.
    // (Spreads only when there is something: spreading a frozen array allocates an iterator, V8 12.)
    if (result.problems.length > 0) problems.push(...result.problems);
    problems.push(...clashes(pod, result, rendered));
    if (result.exporter.warnings.length > 0) warnings.push(...result.exporter.warnings);
    rendered.push(result.exporter);
  }
  problems.push(...runToCompletionProblems(pod, mode));
  if (problems.length > 0 || !isNonEmpty(rendered)) return { ok: false, problems, warnings };

  const [first] = rendered;
  const own = pod.metadata?.annotations ?? {};
  const scrape = optIn.scrape === 'override' || (optIn.scrape === 'auto' && !Object.keys(own).some((k) => k.startsWith(PROMETHEUS)));
  const injection = injectionOf(rendered, mode, scrape);
  if (optIn.scrape === 'override') {
    const replaced = injection.changes.annotations.filter(([k, v]) => k.startsWith(PROMETHEUS) && own[k] !== undefined && own[k] !== v);
    if (replaced.length > 0) {
      warnings.push(
        `${ANNOTATION.scrape}: override replaced the pod's own ${replaced.map(([k, v]) => `${k} ${JSON.stringify(own[k])} -> ${JSON.stringify(v)}`).join(', ')}; the app's own metrics are no longer scraped through these annotations`,
      );
    }
  } else if (optIn.scrape === 'auto' && !scrape) {
    warnings.push(
      `the pod's own prometheus.io/* annotations were kept; the ${first.template.name} exporter is exposed on port ${first.template.portName} (${first.port}): scrape it with a PodMonitor, or set ${ANNOTATION.scrape}: override`,
    );
  }
  if (rendered.length > 1 && optIn.scrape !== 'off') {
    warnings.push(
      `prometheus.io/* annotations can point at one port only (${first.template.name}); the others (${rendered.slice(1).map((e) => e.template.portName).join(', ')}) are scraped by the shipped PodMonitor (or an equivalent job) through the ${SCRAPE_SLOT_PREFIX}<n> annotations`,
    );
  }
  if (rendered.length > SCRAPE_SLOTS) {
    warnings.push(
      `the shipped PodMonitor scrapes ${SCRAPE_SLOTS} exporters per pod; ${rendered.slice(SCRAPE_SLOTS).map((e) => e.template.name).join(', ')} (${SCRAPE_SLOT_PREFIX}${SCRAPE_SLOTS} and on) need an endpoint added to it`,
    );
  }
  if (pod.spec?.hostNetwork === true) {
    warnings.push(`the pod uses hostNetwork: exporter ports (${rendered.map((e) => e.port).join(', ')}) are opened on the node's network`);
  }
  return { ok: true, changes: injection.changes, templates: injection.templates, warnings };
}

const isNonEmpty = <T>(list: T[]): list is [T, ...T[]] => list.length > 0;

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

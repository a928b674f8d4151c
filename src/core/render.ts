// Stage 3: one template + the pod's `<template>.<param>` values -> the exporter container and the
// volumes it needs. Values are validated here and only ever placed into parsed structures.
import type { V1EnvVar, V1Probe, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { PREFIX, type Container, type ExporterTemplate, type Problem, type SidecarMode, type TemplateProbe } from './types.js';
import { GENERIC_PARAMS } from './annotations.js';
import {
  checkArgs,
  checkCpu,
  checkImage,
  checkMemory,
  checkObjectName,
  checkPath,
  checkPattern,
  checkPort,
  checkTarget,
  checkVolumeName,
  closest,
  escapeDollar,
  type Checked,
} from './values.js';

export interface RenderedExporter {
  readonly template: ExporterTemplate;
  readonly container: Container;
  readonly volumes: readonly V1Volume[];
  readonly port: number;
  readonly path: string;
  /** Names of existing pod volumes the container mounts (they must exist). */
  readonly podVolumes: readonly string[];
}

export type RenderResult = { ok: true; exporter: RenderedExporter } | { ok: false; problems: Problem[] };

const uses = (template: ExporterTemplate, placeholder: string): boolean =>
  template.args.some((a) => a.includes(placeholder)) || template.env.some((e) => e.value.includes(placeholder));

const renderCache = new WeakMap<ExporterTemplate, Map<string, RenderResult>>();
/** Distinct (params, mode) combinations remembered per template; most pods use a handful. */
const RENDER_CACHE_SIZE = 256;

/**
 * Renders the exporter, remembering the result per frozen template: rendering depends only on the
 * template, the `<template>.<param>` values and the mode, and every opted-in pod of a Deployment
 * asks for the same. Results are frozen because they are shared between requests.
 */
export function renderExporterCached(template: ExporterTemplate, params: ReadonlyMap<string, string>, mode: SidecarMode): RenderResult {
  let cache = renderCache.get(template);
  if (!cache) renderCache.set(template, (cache = new Map()));
  const key = `${mode}\0${[...params].map(([k, v]) => `${k}=${v}`).sort().join('\0')}`;
  let result = cache.get(key);
  if (!result) {
    if (cache.size >= RENDER_CACHE_SIZE) cache.clear();
    cache.set(key, (result = deepFreeze(renderExporter(template, params, mode))));
  }
  return result;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function renderExporter(
  template: ExporterTemplate,
  params: ReadonlyMap<string, string>,
  mode: SidecarMode,
): RenderResult {
  const problems: Problem[] = [];
  const key = (param: string) => `${PREFIX}${template.name}.${param}`;

  function take<T>(param: string, check: (raw: string) => Checked<T>, fallback: T): T {
    const raw = params.get(param);
    if (raw === undefined) return fallback;
    const checked = check(raw.trim());
    if (checked.ok) return checked.value;
    problems.push({ code: 'EI_ERR_PARAM_INVALID', message: `annotation ${key(param)}: invalid value ${JSON.stringify(raw)}; valid: ${checked.expected}` });
    return fallback;
  }

  function notSupported(param: string, why: string): void {
    if (params.has(param)) problems.push({ code: 'EI_ERR_PARAM_UNKNOWN', message: `annotation ${key(param)}: template "${template.name}" ${why}` });
  }

  const declared = new Map(template.params.map((p) => [p.name, p]));
  for (const param of params.keys()) {
    if ((GENERIC_PARAMS as readonly string[]).includes(param) || declared.has(param)) continue;
    const valid = [...GENERIC_PARAMS, ...declared.keys()];
    const hint = closest(param, valid);
    problems.push({
      code: 'EI_ERR_PARAM_UNKNOWN',
      message: `annotation ${key(param)} is not a parameter of template "${template.name}"${hint ? ` (did you mean ${key(hint)}?)` : ''}; valid parameters: ${valid.join(', ')}`,
    });
  }

  // Generic params that a template cannot honour are refused, never silently ignored.
  if (!uses(template, '{port}')) notSupported('port', `cannot move its listen port from ${template.port}`);
  if (!uses(template, '{path}')) notSupported('path', `serves metrics only on ${template.path}`);
  if (template.target.format === 'none') notSupported('target', 'takes no target: the application pushes metrics to it');
  if (template.credentials.length === 0) notSupported('secret', 'reads no credentials');

  const image = take('image', checkImage, template.image);
  const port = take('port', checkPort, template.port);
  const path = take('path', checkPath, template.path);
  const userTarget = params.has('target') && template.target.format !== 'none';
  const target = userTarget ? escapeDollar(take('target', (raw) => checkTarget(raw, template.target.format), template.target.default)) : template.target.default;
  const extraArgs = take('args', checkArgs, [] as string[]).map(escapeDollar);
  const cpu = take('cpu', checkCpu, template.resources.requests.cpu);
  const memory = params.has('memory') ? take('memory', checkMemory, template.resources.requests.memory) : undefined;
  const secret = template.credentials.length > 0 ? take('secret', checkObjectName, '') : '';

  // Replacement functions, not strings: in a replacement string `$$` means `$` (undoing
  // escapeDollar, so the kubelet would expand a user's $(VAR)) and `$&` inserts the placeholder.
  const fill = (text: string) =>
    text.replaceAll('{port}', () => String(port)).replaceAll('{path}', () => path).replaceAll('{target}', () => target);

  const env: V1EnvVar[] = template.env.map((e) => ({ name: e.name, value: fill(e.value) }));
  if (secret !== '') {
    for (const c of template.credentials) {
      env.push({ name: c.env, valueFrom: { secretKeyRef: { name: secret, key: c.key, ...(c.required ? {} : { optional: true }) } } });
    }
  } else if (template.credentials.some((c) => c.required)) {
    const keys = template.credentials.filter((c) => c.required).map((c) => `${c.key} (${c.env})`);
    problems.push({
      code: 'EI_ERR_PARAM_MISSING',
      message: `template "${template.name}" needs credentials: set ${key('secret')} to the name of a Secret in the pod's namespace with keys ${keys.join(', ')}`,
    });
  }

  // Flags from params and `<template>.args` go before the template's positional arguments (nats
  // takes its target last; Go's flag parsing stops at the first non-flag).
  const templateArgs = template.args.map(fill);
  const positionalAt = template.args.findIndex((a) => !a.startsWith('-'));
  const args = positionalAt < 0 ? templateArgs : templateArgs.slice(0, positionalAt);
  const mounts: V1VolumeMount[] = [];
  const volumes: V1Volume[] = [];
  const podVolumes: string[] = [];
  for (const p of template.params) {
    const raw = params.get(p.name);
    if (raw === undefined) {
      if (p.required) problems.push({ code: 'EI_ERR_PARAM_MISSING', message: `template "${template.name}" needs ${key(p.name)}: ${p.description}` });
      continue;
    }
    switch (p.kind) {
      case 'arg': {
        const value = take(p.name, (v) => checkPattern(v, p.pattern), '');
        if (value !== '') args.push((p.arg ?? '').replaceAll('{value}', () => escapeDollar(value)));
        break;
      }
      case 'env': {
        const value = take(p.name, (v) => checkPattern(v, p.pattern), '');
        if (value !== '') env.push({ name: p.env ?? '', value: escapeDollar(value) });
        break;
      }
      case 'configMap': {
        const name = take(p.name, checkObjectName, '');
        if (name === '') break;
        const volume = `${template.containerName}-${p.name}`.slice(0, 63);
        volumes.push({ name: volume, configMap: { name } });
        mounts.push({ name: volume, mountPath: p.mountPath ?? '', readOnly: true });
        if (p.arg !== undefined) args.push(p.arg.replaceAll('{value}', () => name));
        break;
      }
      case 'podVolume': {
        const name = take(p.name, checkVolumeName, '');
        if (name === '') break;
        podVolumes.push(name);
        mounts.push({ name, mountPath: p.mountPath ?? '', readOnly: true });
        if (p.arg !== undefined) args.push(p.arg.replaceAll('{value}', () => name));
        break;
      }
    }
  }
  args.push(...extraArgs);
  if (positionalAt >= 0) args.push(...templateArgs.slice(positionalAt));

  if (template.scratchDir !== undefined) {
    const volume = `${template.containerName}-scratch`.slice(0, 63);
    volumes.push({ name: volume, emptyDir: { sizeLimit: '16Mi' } });
    mounts.push({ name: volume, mountPath: template.scratchDir });
  }

  if (problems.length > 0) return { ok: false, problems };

  const probe = (p: TemplateProbe | undefined): V1Probe | undefined =>
    p && {
      httpGet: { path: p.path, port: template.portName, scheme: template.scheme.toUpperCase() },
      ...(p.initialDelaySeconds !== undefined ? { initialDelaySeconds: p.initialDelaySeconds } : {}),
      ...(p.periodSeconds !== undefined ? { periodSeconds: p.periodSeconds } : {}),
      ...(p.timeoutSeconds !== undefined ? { timeoutSeconds: p.timeoutSeconds } : {}),
      ...(p.failureThreshold !== undefined ? { failureThreshold: p.failureThreshold } : {}),
    };

  const sc = template.securityContext;
  const container: Container = {
    name: template.containerName,
    image,
    ...(args.length > 0 ? { args } : {}),
    ...(env.length > 0 ? { env } : {}),
    ports: [{ name: template.portName, containerPort: port, protocol: 'TCP' }],
    resources: {
      requests: { cpu, memory: memory ?? template.resources.requests.memory },
      limits: { memory: memory ?? template.resources.limits.memory, ...(template.resources.limits.cpu ? { cpu: template.resources.limits.cpu } : {}) },
    },
    ...(template.probes.liveness ? { livenessProbe: probe(template.probes.liveness) } : {}),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: sc.runAsUser,
      ...(sc.runAsGroup !== undefined ? { runAsGroup: sc.runAsGroup } : {}),
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: sc.readOnlyRootFilesystem,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...(mounts.length > 0 ? { volumeMounts: mounts } : {}),
    // A native sidecar is an init container that keeps running: it starts before the app and
    // does not hold a Job open when the app finishes.
    ...(mode === 'native' ? { restartPolicy: 'Always' } : {}),
  };
  return { ok: true, exporter: { template, container, volumes, port, path, podVolumes } };
}

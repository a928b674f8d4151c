// Stage 3: one template + the pod's `<template>.<param>` values -> the exporter container and the
// volumes it needs. Values are validated here and only ever placed into parsed structures.
import type { V1EnvVar, V1Probe, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { PREFIX, type Container, type ExporterTemplate, type Problem, type RunAsUserMode, type SidecarMode, type TemplateProbe } from './types.js';
import { GENERIC_PARAMS } from './annotations.js';
import { deepFreeze } from './freeze.js';
import { KeyedCache } from './keyed-cache.js';
import { PARAM_KINDS, type ParamKind, type ParamKindName } from './param-kinds.js';
import { checkArgs, checkCpu, checkImage, checkMemory, checkObjectName, checkPath, checkPort, checkTarget, closest, escapeDollar, imageRepository, type Checked } from './values.js';

type GenericParam = (typeof GENERIC_PARAMS)[number];

export interface RenderedExporter {
  readonly template: ExporterTemplate;
  readonly container: Container;
  /** The container image's repository (no tag, no digest): the same exporter already in a pod is a clash. */
  readonly imageRepository: string;
  readonly volumes: readonly V1Volume[];
  readonly port: number;
  readonly path: string;
  /** Names of existing pod volumes the container mounts (they must exist). */
  readonly podVolumes: readonly string[];
  /** Every port the exporter binds: its metrics port, then the template's other listening ports. */
  readonly binds: readonly BoundPort[];
  /** Pod-level needs from parameter values (e.g. fsGroup for secret files): need -> why. */
  readonly requires: ReadonlyMap<'fsGroup', string>;
  readonly warnings: readonly string[];
}

/**
 * Always the exporter as far as it could be rendered (refused values fall back to the template's),
 * so the pod-level checks run too and a denial lists every problem at once. `invalid` names the
 * params whose value was refused: checks that depend on them are skipped rather than misreported.
 */
export type RenderResult = {
  readonly ok: boolean;
  readonly exporter: RenderedExporter;
  readonly problems: readonly Problem[];
  readonly invalid: ReadonlySet<string>;
};

export interface BoundPort {
  readonly port: number;
  readonly protocol: string;
  /** What the port is, for messages. */
  readonly what: string;
  /** The param that moves it (`port`), when one does. */
  readonly param?: 'port';
}

/** Renderings by template and (params, mode); a workload uses one, a cluster a few hundred at most. */
const renderCache = new KeyedCache<ExporterTemplate, RenderResult>(1024);

/**
 * Renders the exporter, remembering the result per frozen template: rendering depends only on the
 * template, the `<template>.<param>` values and the mode, and every opted-in pod of a Deployment
 * asks for the same. Results are frozen because they are shared between requests.
 */
export function renderExporterCached(template: ExporterTemplate, params: ReadonlyMap<string, string>, mode: SidecarMode, runAsUser: RunAsUserMode = 'template'): RenderResult {
  // JSON, not a joined string: values may hold any character, and two value sets must never share
  // an entry (one pod would get another pod's exporter).
  // Sorted by name, so the result (the order of its problems too) does not depend on the order the
  // pod lists its annotations in, nor on which pod filled the cache entry first.
  const sorted = params.size === 0 ? [] : [...params].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // Most pods set no params: their keys are built once, and a string built once is hashed once.
  const key = sorted.length === 0 ? noParamsKey(mode, runAsUser) : JSON.stringify([mode, runAsUser, sorted]);
  return renderCache.get(template, key) ?? renderCache.set(template, key, deepFreeze(renderExporter(template, new Map(sorted), mode, runAsUser)));
}

const noParamsKeys = new Map<SidecarMode, Map<RunAsUserMode, string>>();
function noParamsKey(mode: SidecarMode, runAsUser: RunAsUserMode): string {
  let byUser = noParamsKeys.get(mode);
  if (!byUser) noParamsKeys.set(mode, (byUser = new Map()));
  let key = byUser.get(runAsUser);
  if (key === undefined) byUser.set(runAsUser, (key = JSON.stringify([mode, runAsUser, []])));
  return key;
}

const uses = (template: ExporterTemplate, placeholder: string): boolean =>
  template.args.some((a) => a.includes(placeholder)) || template.env.some((e) => e.value.includes(placeholder));

/** One parameter a template accepts, for `templates show` and for messages. */
export interface AcceptedParam {
  readonly name: string;
  /** `generic` for the params every template may accept, else the declared kind. */
  readonly kind: 'generic' | ParamKindName;
  readonly description: string;
  readonly required: boolean;
  /** secretFiles: the Secret keys read. */
  readonly keys?: readonly string[];
}

/** Why a template cannot honour a generic param, or undefined when it can. */
function genericRefusal(template: ExporterTemplate, param: GenericParam): string | undefined {
  switch (param) {
    case 'port':
      return uses(template, '{port}') ? undefined : `cannot move its listen port from ${template.port}`;
    case 'path':
      return uses(template, '{path}') ? undefined : `serves metrics only on ${template.path}`;
    case 'target':
      return template.target.format === 'none' ? 'takes no target: what it reads is fixed by the template (see exporter-injector templates show) or set through its own parameters' : undefined;
    case 'secret':
      return template.credentials.length === 0 ? 'reads no credentials' : undefined;
    default:
      return undefined;
  }
}

function genericDescription(template: ExporterTemplate, param: GenericParam): string {
  switch (param) {
    case 'image':
      return `the exporter image, pinned by tag or digest (default ${template.image})`;
    case 'port':
      return `the metrics port (default ${template.port})`;
    case 'target':
      return `what the exporter scrapes, ${template.target.format === 'url' ? 'a URL' : template.target.format === 'hostport' ? 'host:port or unix:///path' : 'a connection string'} (default ${template.target.default})`;
    case 'secret':
      return `a Secret in the pod's namespace with the credentials, keys: ${template.credentials.map((c) => `${c.key} (${c.env}${c.required ? ', required' : ''})`).join(', ')}`;
    case 'args':
      return `extra flags, space-separated; not the flags the template sets (${[...ownedFlags(template).keys()].map((f) => `--${f}`).join(', ') || 'none'})`;
    case 'cpu':
      return `CPU request (default ${template.resources.requests.cpu})`;
    case 'memory':
      return `memory request and limit (default ${template.resources.requests.memory} / ${template.resources.limits.memory})`;
    case 'path':
      return `the metrics path (default ${template.path})`;
  }
}

/** Every parameter the template accepts: the generic ones it can honour, then its declared ones. */
export function acceptedParams(template: ExporterTemplate): AcceptedParam[] {
  const generic = GENERIC_PARAMS.filter((p) => genericRefusal(template, p) === undefined).map(
    (name): AcceptedParam => ({ name, kind: 'generic', description: genericDescription(template, name), required: name === 'secret' && template.credentials.some((c) => c.required) }),
  );
  const declared = template.params.map(
    (p): AcceptedParam => ({ name: p.name, kind: p.kind, description: p.description, required: p.required, ...(p.files ? { keys: p.files.map((f) => f.key) } : {}) }),
  );
  return [...generic, ...declared];
}

/** `--a.b=x`, `-a.b`, `--no-a.b` -> `a.b` (Go's flag takes one or two dashes; kingpin negates booleans with no-). */
function flagName(token: string): string | undefined {
  const m = /^--?([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(token);
  return m?.[1];
}

/**
 * The flags the template sets itself, each with the param that changes it (undefined when the value
 * is fixed by the template). `<template>.args` may not set them: the exporter would take the later
 * value while the port, probe and annotations follow the template's.
 */
export function ownedFlags(template: ExporterTemplate): Map<string, string | undefined> {
  const owned = new Map<string, string | undefined>();
  for (const arg of template.args) {
    const name = flagName(arg);
    if (name === undefined) continue;
    const placeholder = /\{(port|path|target)\}/.exec(arg)?.[1];
    owned.set(name, placeholder);
  }
  for (const p of template.params) {
    for (const arg of [...(p.arg !== undefined ? [p.arg] : []), ...(p.args ?? [])]) {
      const name = flagName(arg);
      if (name !== undefined) owned.set(name, p.name);
    }
  }
  return owned;
}

/** A password in a target ends up in clear text in the pod spec, readable by anyone who can read the pod. */
function credentialInTarget(target: string): string | undefined {
  if (/(^|[?&\s;])(password|pass|pwd)=/i.test(target)) return 'a password= parameter';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target)) {
    try {
      if (new URL(target).password !== '') return 'a password in the URL';
    } catch {
      // Not a URL: nothing more to find.
    }
  }
  return undefined;
}

export function renderExporter(template: ExporterTemplate, params: ReadonlyMap<string, string>, mode: SidecarMode, runAsUser: RunAsUserMode = 'template'): RenderResult {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const invalid = new Set<string>();
  const key = (param: string) => `${PREFIX}${template.name}.${param}`;

  function take<T>(param: string, check: (raw: string) => Checked<T>, fallback: T): T {
    const raw = params.get(param);
    if (raw === undefined) return fallback;
    const checked = check(raw.trim());
    if (checked.ok) return checked.value;
    invalid.add(param);
    problems.push({ code: 'EI_ERR_PARAM_INVALID', message: `annotation ${key(param)}: invalid value ${JSON.stringify(raw)}; valid: ${checked.expected}` });
    return fallback;
  }

  const accepted = acceptedParams(template);
  const acceptedNames = new Set(accepted.map((p) => p.name));
  for (const param of params.keys()) {
    if (acceptedNames.has(param)) continue;
    invalid.add(param);
    const why = (GENERIC_PARAMS as readonly string[]).includes(param) ? genericRefusal(template, param as GenericParam) : undefined;
    if (why !== undefined) {
      // Generic params that a template cannot honour are refused, never silently ignored.
      problems.push({ code: 'EI_ERR_PARAM_UNKNOWN', message: `annotation ${key(param)}: template "${template.name}" ${why}` });
      continue;
    }
    const hint = closest(param, acceptedNames);
    problems.push({
      code: 'EI_ERR_PARAM_UNKNOWN',
      message: `annotation ${key(param)} is not a parameter of template "${template.name}"${hint ? ` (did you mean ${key(hint)}?)` : ''}; valid parameters: ${[...acceptedNames].join(', ')}`,
    });
  }
  const given = (param: string) => params.has(param) && acceptedNames.has(param);

  const image = given('image') ? take('image', checkImage, template.image) : template.image;
  const port = given('port') ? take('port', checkPort, template.port) : template.port;
  const path = given('path') ? take('path', checkPath, template.path) : template.path;
  const target = given('target') ? take('target', (raw) => checkTarget(raw, template.target.format), template.target.default) : template.target.default;
  const extraArgs = given('args') ? take('args', (raw) => checkExtraArgs(raw, template), [] as string[]) : [];
  const cpu = given('cpu') ? take('cpu', checkCpu, template.resources.requests.cpu) : template.resources.requests.cpu;
  const memory = given('memory') ? take('memory', checkMemory, template.resources.requests.memory) : undefined;
  const secret = given('secret') ? take('secret', checkObjectName, '') : '';

  if (given('target') && !invalid.has('target')) {
    const credential = credentialInTarget(target);
    if (credential !== undefined) {
      const instead = template.credentials.length > 0
        ? `put it in a Secret and set ${key('secret')} (keys: ${template.credentials.map((c) => c.key).join(', ')})`
        : `template "${template.name}" reads no credentials from a Secret: use a user template with credentials`;
      warnings.push(`annotation ${key('target')} carries ${credential}: it is stored in clear text in the pod spec, readable by anyone who can read the pod; ${instead}`);
    }
  }

  // Placeholders are replaced in one pass with a function: a value is never read as a replacement
  // pattern (`$$`, `$&`) nor searched again for placeholders. Values are escaped for the kubelet's
  // $(VAR) expansion; template text is not (a template may use $(VAR) on purpose).
  const values: Record<string, string> = { port: String(port), path, target: escapeDollar(target) };
  const fill = (text: string) => text.replace(/\{(port|path|target)\}/g, (_, name: string) => values[name] ?? '');

  const env: V1EnvVar[] = template.env.map((e) => ({ name: e.name, value: fill(e.value) }));
  if (secret !== '') {
    for (const c of template.credentials) {
      env.push({ name: c.env, valueFrom: { secretKeyRef: { name: secret, key: c.key, ...(c.required ? {} : { optional: true }) } } });
    }
  } else if (template.credentials.some((c) => c.required) && !invalid.has('secret')) {
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
  const requires = new Map<'fsGroup', string>();
  for (const p of template.params) {
    if (!params.has(p.name)) {
      if (p.required) problems.push({ code: 'EI_ERR_PARAM_MISSING', message: `template "${template.name}" needs ${key(p.name)}: ${p.description}` });
      continue;
    }
    const kind: ParamKind = PARAM_KINDS[p.kind];
    const value = take(p.name, (raw) => kind.value(raw, p), '');
    if (value === '') continue;
    const added = kind.render(value, p, `${template.containerName}-${p.name}`.slice(0, 63));
    args.push(...(added.args ?? []));
    env.push(...(added.env ?? []));
    volumes.push(...(added.volumes ?? []));
    mounts.push(...(added.mounts ?? []));
    podVolumes.push(...(added.podVolumes ?? []));
    if (added.requires?.fsGroup !== undefined) requires.set('fsGroup', `${key(p.name)}: ${added.requires.fsGroup}`);
  }
  args.push(...extraArgs.map(escapeDollar));
  if (positionalAt >= 0) args.push(...templateArgs.slice(positionalAt));

  if (template.scratchDir !== undefined) {
    const volume = `${template.containerName}-scratch`.slice(0, 63);
    volumes.push({ name: volume, emptyDir: { sizeLimit: '16Mi' } });
    mounts.push({ name: volume, mountPath: template.scratchDir });
  }

  const probe = (p: TemplateProbe | undefined): V1Probe | undefined =>
    p && {
      httpGet: { path: p.path, port: template.portName, scheme: template.scheme.toUpperCase() },
      ...(p.initialDelaySeconds !== undefined ? { initialDelaySeconds: p.initialDelaySeconds } : {}),
      ...(p.periodSeconds !== undefined ? { periodSeconds: p.periodSeconds } : {}),
      ...(p.timeoutSeconds !== undefined ? { timeoutSeconds: p.timeoutSeconds } : {}),
      ...(p.failureThreshold !== undefined ? { failureThreshold: p.failureThreshold } : {}),
    };

  const sc = template.securityContext;
  // OpenShift's restricted-v2 SCC refuses a runAsUser outside the namespace's UID range and assigns
  // one itself when none is set; runAsNonRoot still holds because the image's USER is numeric.
  const omitUser = runAsUser === 'omit' && sc.imageUserIsNumericNonRoot === true;
  if (runAsUser === 'omit' && !omitUser) {
    warnings.push(
      `${template.name}: run-as-user omit is not possible: the template does not record that its image declares a numeric non-root USER (securityContext.imageUserIsNumericNonRoot), so runAsUser ${sc.runAsUser} is kept; on OpenShift's restricted-v2 SCC that UID must be in the namespace's range, or use a template whose image has a numeric USER`,
    );
  }
  const container: Container = {
    name: template.containerName,
    image,
    ...(args.length > 0 ? { args } : {}),
    ...(env.length > 0 ? { env } : {}),
    ports: [
      { name: template.portName, containerPort: port, protocol: 'TCP' },
      ...(template.listens ?? []).map((l) => ({ containerPort: l.port, protocol: l.protocol })),
    ],
    resources: {
      requests: { cpu, memory: memory ?? template.resources.requests.memory },
      limits: { memory: memory ?? template.resources.limits.memory, ...(template.resources.limits.cpu ? { cpu: template.resources.limits.cpu } : {}) },
    },
    ...(template.probes.liveness ? { livenessProbe: probe(template.probes.liveness) } : {}),
    securityContext: {
      runAsNonRoot: true,
      ...(omitUser ? {} : { runAsUser: sc.runAsUser }),
      ...(sc.runAsGroup !== undefined && !omitUser ? { runAsGroup: sc.runAsGroup } : {}),
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
  const binds: BoundPort[] = [
    { port, protocol: 'TCP', what: 'metrics port', param: 'port' },
    ...(template.listens ?? []).map((l) => ({ port: l.port, protocol: l.protocol, what: l.description })),
  ];
  return { ok: problems.length === 0, exporter: { template, container, imageRepository: imageRepository(container.image ?? ''), volumes, port, path, podVolumes, binds, requires, warnings }, problems, invalid };
}

/** `<template>.args`: well-formed flags, none of which the template sets itself. */
function checkExtraArgs(raw: string, template: ExporterTemplate): Checked<string[]> {
  const owned = ownedFlags(template);
  // Checked token by token before the syntax, so `--flag value` and `-flag` forms of an owned flag
  // are named as such rather than as "not a flag".
  for (const token of raw.trim().split(/\s+/)) {
    const name = flagName(token);
    if (name === undefined) continue;
    const base = owned.has(name) ? name : name.startsWith('no-') && owned.has(name.slice(3)) ? name.slice(3) : undefined;
    if (base === undefined) continue;
    const param = owned.get(base);
    return {
      ok: false,
      expected: `flags the template does not set; --${base} is set by template "${template.name}"${param !== undefined ? `: use ${PREFIX}${template.name}.${param} instead` : ' and cannot be changed (write a user template to change it)'}`,
    };
  }
  return checkArgs(raw);
}

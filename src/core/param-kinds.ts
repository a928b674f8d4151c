// The kinds a template's declared parameter can have, each declared once: the fields its entry in a
// template file may carry (the registry builds the schema from them), the checks a schema cannot
// express, how a value is validated, and what the value adds to the exporter container.
// A new kind is one entry here; the kind type, the schema and the renderer follow from the table.
import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { isJsonObject } from './json.js';
import type { TemplateParam } from './types.js';
import { checkObjectName, checkPattern, checkVolumeName, escapeDollar, type Checked } from './values.js';

/** A path into a template document, for problems: `['params', 1, 'arg']`. */
export type ParamDocPath = readonly (string | number)[];

/** What the registry's semantic check offers each kind (shared claims across the whole template). */
export interface ParamCheckContext {
  /** Reports a problem at `params[i].<rest>`. */
  readonly add: (rest: readonly (string | number)[], message: string) => void;
  /** Claims an environment variable name for the whole template (duplicates are reported). */
  readonly claimEnv: (name: string, rest: readonly (string | number)[]) => void;
  /** Claims a mount path for the whole template (duplicates and bad paths are reported). */
  readonly claimMount: (path: string, rest: readonly (string | number)[]) => void;
}

/** What one parameter value adds to the exporter. */
export interface ParamContribution {
  readonly args?: readonly string[];
  readonly env?: readonly V1EnvVar[];
  readonly volumes?: readonly V1Volume[];
  readonly mounts?: readonly V1VolumeMount[];
  /** Existing pod volumes the exporter mounts: they must exist in the pod. */
  readonly podVolumes?: readonly string[];
  /** Pod-level needs (the injector never grants them). */
  readonly requires?: { readonly fsGroup?: string };
}

/** A file of a secretFiles parameter: Secret key -> file name under the mount path. */
export interface SecretFile {
  readonly key: string;
  readonly path: string;
}

/** Fields a parameter entry may carry besides name, description, kind and required. */
export type ParamField = 'arg' | 'args' | 'env' | 'mountPath' | 'pattern' | 'files';

export interface ParamKind {
  /** One line for `templates show` and the docs. */
  readonly summary: string;
  /** The fields this kind reads; any other is refused in a template file. */
  readonly fields: readonly ParamField[];
  /** Semantic checks of one `params[i]` entry (typed loosely: the shape may be wrong too). */
  readonly check: (p: Readonly<Record<string, unknown>>, ctx: ParamCheckContext) => void;
  /** Validates a (trimmed) annotation value. */
  readonly value: (raw: string, param: TemplateParam) => Checked<string>;
  /** What a valid value adds; `volume` is the name the kind's own volume gets (unique per exporter). */
  readonly render: (value: string, param: TemplateParam, volume: string) => ParamContribution;
}

/** `{value}` replaced literally (a function replacement: `$` in a value is never a replacement pattern). */
export const withValue = (text: string, value: string): string => text.replaceAll('{value}', () => value);

/** Mode of secretFiles files: owner and group read, so only the pod's fsGroup gives the exporter access. */
export const SECRET_FILE_MODE = 0o440;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

function checkFlagWithValue(p: Readonly<Record<string, unknown>>, ctx: ParamCheckContext, kind: string): void {
  const arg = str(p.arg);
  if (arg === undefined) ctx.add([], `kind "${kind}" needs an "arg" such as "--flag={value}"`);
  else if (!arg.includes('{value}')) ctx.add(['arg'], `"${arg}" must contain "{value}"`);
}

function checkVolumeKind(p: Readonly<Record<string, unknown>>, ctx: ParamCheckContext, kind: string): void {
  const mountPath = str(p.mountPath);
  if (mountPath === undefined) ctx.add([], `kind "${kind}" needs a "mountPath"`);
  else ctx.claimMount(mountPath, ['mountPath']);
  // An arg here is a fixed flag added when the volume is given (for example a mapping file).
  if (str(p.arg)?.includes('{value}')) ctx.add(['arg'], `must not contain "{value}" for kind "${kind}": the value is an object name, not a flag value`);
}

export const PARAM_KINDS = {
  arg: {
    summary: 'a flag: "arg" with {value} replaced by the value',
    fields: ['arg', 'pattern'],
    check: (p, ctx) => checkFlagWithValue(p, ctx, 'arg'),
    value: (raw, param) => checkPattern(raw, param.pattern),
    render: (value, param) => ({ args: [withValue(param.arg ?? '', escapeDollar(value))] }),
  },
  env: {
    summary: 'an environment variable "env" set to the value',
    fields: ['env', 'pattern'],
    check: (p, ctx) => {
      const env = str(p.env);
      if (env === undefined) ctx.add([], 'kind "env" needs an "env" naming the variable');
      else ctx.claimEnv(env, ['env']);
    },
    value: (raw, param) => checkPattern(raw, param.pattern),
    render: (value, param) => ({ env: [{ name: param.env ?? '', value: escapeDollar(value) }] }),
  },
  configMap: {
    summary: 'the name of a ConfigMap in the pod\'s namespace, mounted read-only at "mountPath"; "arg" (a fixed flag) is added when given',
    fields: ['mountPath', 'arg'],
    check: (p, ctx) => checkVolumeKind(p, ctx, 'configMap'),
    value: (raw) => checkObjectName(raw),
    render: (name, param, volume) => ({
      volumes: [{ name: volume, configMap: { name } }],
      mounts: [{ name: volume, mountPath: param.mountPath ?? '', readOnly: true }],
      ...(param.arg !== undefined ? { args: [param.arg] } : {}),
    }),
  },
  podVolume: {
    summary: 'the name of a volume of the pod, mounted read-only at "mountPath"; "arg" (a fixed flag) is added when given',
    fields: ['mountPath', 'arg'],
    check: (p, ctx) => checkVolumeKind(p, ctx, 'podVolume'),
    value: (raw) => checkVolumeName(raw),
    render: (name, param) => ({
      podVolumes: [name],
      mounts: [{ name, mountPath: param.mountPath ?? '', readOnly: true }],
      ...(param.arg !== undefined ? { args: [param.arg] } : {}),
    }),
  },
  secretFiles: {
    summary:
      'the name of a Secret in the pod\'s namespace whose keys ("files": key -> path) are mounted read-only (mode 0440) at "mountPath" into the exporter only; "args" (fixed flags naming those files) are added when given; the pod needs spec.securityContext.fsGroup',
    fields: ['mountPath', 'files', 'args'],
    check: (p, ctx) => {
      const mountPath = str(p.mountPath);
      if (mountPath === undefined) ctx.add([], 'kind "secretFiles" needs a "mountPath"');
      else ctx.claimMount(mountPath, ['mountPath']);
      const files = Array.isArray(p.files) ? p.files : undefined;
      if (files === undefined || files.length === 0) ctx.add([], 'kind "secretFiles" needs "files": a list of {key, path} (the Secret keys the exporter reads)');
      const paths = new Set<string>();
      files?.forEach((f: unknown, i) => {
        if (!isJsonObject(f)) return;
        const { key, path } = f;
        if (typeof key === 'string' && !(SECRET_KEY.test(key) && key.length <= 253)) ctx.add(['files', i, 'key'], `"${key}" must be a Secret key (letters, digits, "-", "_" and ".")`);
        if (typeof path === 'string') {
          if (path.startsWith('/') || path.split('/').includes('..') || !/^[A-Za-z0-9._/-]+$/.test(path)) {
            ctx.add(['files', i, 'path'], `"${path}" must be a relative file name under mountPath (letters, digits, ".", "_", "-", "/"; no "..")`);
          } else if (paths.has(path)) ctx.add(['files', i, 'path'], `"${path}" is already used by another file of this parameter`);
          paths.add(path);
        }
      });
      const args = Array.isArray(p.args) ? p.args : [];
      args.forEach((a: unknown, i) => {
        if (typeof a === 'string' && a.includes('{value}')) ctx.add(['args', i], 'must not contain "{value}" for kind "secretFiles": the value is a Secret name; name the mounted files instead');
      });
    },
    value: (raw) => checkObjectName(raw),
    render: (secretName, param, volume) => ({
      volumes: [
        {
          name: volume,
          secret: { secretName, defaultMode: SECRET_FILE_MODE, items: (param.files ?? []).map((f) => ({ key: f.key, path: f.path })) },
        },
      ],
      mounts: [{ name: volume, mountPath: param.mountPath ?? '', readOnly: true }],
      args: param.args ?? [],
      requires: { fsGroup: `its files (Secret "${secretName}") are mode 0440 and reach the exporter through the pod's fsGroup` },
    }),
  },
} as const satisfies Record<string, ParamKind>;

/** The kind names, derived from the table. */
export type ParamKindName = keyof typeof PARAM_KINDS;
export const PARAM_KIND_NAMES = Object.keys(PARAM_KINDS) as ParamKindName[];

/** Every field any kind reads, for the schema of a parameter entry. */
export const PARAM_FIELDS: readonly ParamField[] = ['arg', 'args', 'env', 'mountPath', 'pattern', 'files'];

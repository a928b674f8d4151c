// What a template file may contain: a JSON Schema for the shape (compiled once at module load,
// because the server reloads templates at run time) plus the checks a schema cannot express.
// Both report every problem they find, as { path, message } pairs the loader turns into lines.
import { Ajv, type ErrorObject } from 'ajv';
import { GENERIC_PARAMS } from '../core/annotations.js';
import { isJsonObject, type JsonObject } from '../core/json.js';
import { PARAM_FIELDS, PARAM_KIND_NAMES, PARAM_KINDS, type ParamCheckContext, type ParamField, type ParamKind } from '../core/param-kinds.js';
import type { ExporterTemplate, TargetFormat } from '../core/types.js';
import { closest, imageProblem, isDnsLabel, isPortName, isUrlPath, MAX_PORT_NAME, parseQuantity, targetProblem } from '../core/values.js';

/** A path into the template document: `['params', 1, 'name']` reads as `params[1].name`. */
export type DocPath = readonly (string | number)[];

export interface SchemaProblem {
  readonly path: DocPath;
  readonly message: string;
}

/** Placeholders replaced in template args and env values. */
export const PLACEHOLDERS = ['port', 'path', 'target'] as const;

export const MAX_TEMPLATE_NAME = 40;
/** The name part of an annotation key (`<template>.<param>`) is limited to 63 characters. */
const MAX_ANNOTATION_NAME = 63;

// ---------------------------------------------------------------------------------------------
// JSON Schema

const nonEmpty = { type: 'string', minLength: 1 } as const;

const probe = {
  type: 'object',
  additionalProperties: false,
  required: ['path'],
  properties: {
    path: nonEmpty,
    initialDelaySeconds: { type: 'integer', minimum: 0, maximum: 3600 },
    periodSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
    timeoutSeconds: { type: 'integer', minimum: 1, maximum: 600 },
    failureThreshold: { type: 'integer', minimum: 1, maximum: 100 },
  },
} as const;

// The schema of each field a parameter kind may read (core/param-kinds.ts says which kind reads which).
const paramFieldSchemas: { [F in ParamField]: object } = {
  arg: nonEmpty,
  args: { type: 'array', items: nonEmpty },
  env: nonEmpty,
  mountPath: nonEmpty,
  pattern: nonEmpty,
  files: {
    type: 'array',
    items: { type: 'object', additionalProperties: false, required: ['key', 'path'], properties: { key: nonEmpty, path: nonEmpty } },
  },
};

// Typed against ExporterTemplate so a field added to the core type without a schema entry
// (or the other way round) fails the type check instead of being silently rejected or dropped.
const templateProperties: { [K in keyof Omit<ExporterTemplate, 'hash'>]-?: object } = {
  name: nonEmpty,
  version: nonEmpty,
  description: nonEmpty,
  source: nonEmpty,
  image: nonEmpty,
  containerName: nonEmpty,
  port: { type: 'integer', minimum: 1, maximum: 65535 },
  portName: nonEmpty,
  path: nonEmpty,
  scheme: { enum: ['http', 'https'] },
  listens: {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['port', 'protocol', 'description'],
      properties: { port: { type: 'integer', minimum: 1, maximum: 65535 }, protocol: { enum: ['TCP', 'UDP'] }, description: nonEmpty },
    },
  },
  target: {
    type: 'object',
    additionalProperties: false,
    required: ['format', 'default'],
    properties: {
      format: { enum: ['url', 'hostport', 'dsn', 'none'] satisfies TargetFormat[] },
      default: { type: 'string' },
    },
  },
  args: { type: 'array', items: nonEmpty },
  env: {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'value'],
      properties: { name: nonEmpty, value: { type: 'string' } },
    },
  },
  credentials: {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['env', 'key'],
      properties: { env: nonEmpty, key: nonEmpty, required: { type: 'boolean' } },
    },
  },
  params: {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'description', 'kind'],
      // Every field some kind reads; which kind reads which is checked by checkParams (from PARAM_KINDS).
      properties: {
        name: nonEmpty,
        description: nonEmpty,
        kind: { enum: PARAM_KIND_NAMES },
        required: { type: 'boolean' },
        ...paramFieldSchemas,
      },
    },
  },
  resources: {
    type: 'object',
    additionalProperties: false,
    required: ['requests', 'limits'],
    properties: {
      requests: {
        type: 'object',
        additionalProperties: false,
        required: ['cpu', 'memory'],
        properties: { cpu: nonEmpty, memory: nonEmpty },
      },
      limits: {
        type: 'object',
        additionalProperties: false,
        required: ['memory'],
        properties: { cpu: nonEmpty, memory: nonEmpty },
      },
    },
  },
  securityContext: {
    type: 'object',
    additionalProperties: false,
    required: ['runAsUser', 'readOnlyRootFilesystem'],
    properties: {
      runAsUser: { type: 'integer' },
      runAsGroup: { type: 'integer', minimum: 0, maximum: 2147483647 },
      readOnlyRootFilesystem: { type: 'boolean' },
      imageUserIsNumericNonRoot: { type: 'boolean' },
    },
  },
  probes: {
    type: 'object',
    additionalProperties: false,
    properties: { liveness: probe },
  },
  requires: {
    type: 'object',
    additionalProperties: false,
    properties: { shareProcessNamespace: { type: 'boolean' } },
  },
  scratchDir: nonEmpty,
};

/** The template file format: ExporterTemplate minus `hash`, with the loader's defaults optional. */
export const templateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'description', 'source', 'image', 'port', 'path', 'target', 'args', 'resources', 'securityContext'],
  properties: templateProperties,
} as const;

// verbose: errors carry their schema, so an unknown field can be matched against the valid ones.
const ajv = new Ajv({ allErrors: true, strict: true, verbose: true });
const validateShape = ajv.compile(templateSchema);

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

function describeAjvError(e: ErrorObject): SchemaProblem {
  const path = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = String(p.additionalProperty);
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const guess = closest(field, known);
      return {
        path: [...path, field],
        message: `unknown field "${field}"${guess === undefined ? '' : `; did you mean "${guess}"?`} (valid fields: ${known.join(', ')})`,
      };
    }
    case 'required':
      return { path, message: `missing required field "${String(p.missingProperty)}"` };
    case 'enum':
      return { path, message: `must be one of: ${(p.allowedValues as unknown[]).map(String).join(', ')}` };
    case 'type':
      return { path, message: `must be ${p.type === 'integer' ? 'an integer' : p.type === 'array' ? 'a list' : p.type === 'object' ? 'a mapping' : `a ${String(p.type)}`}` };
    case 'minLength':
      return { path, message: 'must not be empty' };
    default:
      return { path, message: e.message ?? e.keyword };
  }
}

/** Shape problems (types, required and unknown fields, ranges), every one of them. */
export function checkShape(doc: unknown): SchemaProblem[] {
  if (validateShape(doc)) return [];
  return (validateShape.errors ?? []).map(describeAjvError);
}

// ---------------------------------------------------------------------------------------------
// Syntax helpers (exported: the core validates annotation values with the same rules)

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const PARAM_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

function pathProblem(p: string): string | undefined {
  return isUrlPath(p) ? undefined : 'must be an absolute URL path of letters, digits and "-", ".", "_", "~", "/" (such as /metrics), as the <template>.path annotation takes';
}

function mountPathProblem(p: string): string | undefined {
  if (!p.startsWith('/') || p === '/') return 'must be an absolute path other than "/"';
  if (p.split('/').includes('..')) return 'must not contain ".."';
  if (/[\s:\u0000-\u001f]/.test(p)) return 'must not contain whitespace or ":"';
  return undefined;
}

function placeholdersIn(s: string): string[] {
  return [...s.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1] ?? '');
}

// ---------------------------------------------------------------------------------------------
// Semantic checks. They run on documents that may also have failed the shape check (so a file
// with several mistakes reports all of them at once) and therefore look at types before use.

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Claims shared by the parts of one template's check: env names and mount paths are unique in it. */
interface Claims {
  readonly add: (path: DocPath, message: string) => void;
  readonly claimEnv: (envName: string, where: DocPath) => void;
  readonly claimMount: (p: string, where: DocPath) => void;
}

export function checkSemantics(doc: unknown): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  if (!isJsonObject(doc)) return problems;
  const add = (path: DocPath, message: string): void => {
    problems.push({ path, message });
  };
  const envNames = new Map<string, string>();
  const mountPaths = new Map<string, string>();
  const claims: Claims = {
    add,
    claimEnv: (envName, where) => {
      if (!C_IDENTIFIER.test(envName)) {
        add(where, `"${envName}" must be an environment variable name (letters, digits and "_", not starting with a digit)`);
        return;
      }
      const first = envNames.get(envName);
      if (first !== undefined) add(where, `environment variable "${envName}" is already set by ${first}`);
      else envNames.set(envName, formatPath(where));
    },
    claimMount: (p, where) => {
      const why = mountPathProblem(p);
      if (why) {
        add(where, `"${p}" ${why}`);
        return;
      }
      const first = mountPaths.get(p);
      if (first !== undefined) add(where, `mount path "${p}" is already used by ${first}`);
      else mountPaths.set(p, formatPath(where));
    },
  };
  checkIdentity(doc, claims);
  checkTargetAndPlaceholders(doc, claims);
  checkCredentials(doc, claims);
  const scratchDir = str(doc.scratchDir);
  if (scratchDir !== undefined) claims.claimMount(scratchDir, ['scratchDir']);
  checkParams(doc, claims);
  checkListens(doc, claims);
  checkResources(doc, claims);
  checkSecurityContext(doc, claims);
  checkProbes(doc, claims);
  return problems;
}

function checkIdentity(doc: JsonObject, { add }: Claims): void {
  const name = str(doc.name);
  if (name !== undefined && !isDnsLabel(name, MAX_TEMPLATE_NAME)) {
    add(['name'], `"${name}" must be a DNS label of at most ${MAX_TEMPLATE_NAME} characters (lower-case letters, digits and "-", starting and ending with a letter or digit)`);
  }
  const version = str(doc.version);
  if (version !== undefined && !SEMVER.test(version)) add(['version'], `"${version}" must be a semantic version such as 1.0.0`);

  const image = str(doc.image);
  if (image !== undefined) {
    const why = imageProblem(image);
    if (why) add(['image'], `"${image}" ${why}`);
  }

  const containerName = str(doc.containerName);
  if (containerName !== undefined && !isDnsLabel(containerName)) {
    add(['containerName'], `"${containerName}" must be a DNS label (lower-case letters, digits and "-", at most 63 characters)`);
  }

  const portName = str(doc.portName);
  if (portName !== undefined) {
    if (!isPortName(portName)) {
      add(['portName'], `"${portName}" must be a port name of at most ${MAX_PORT_NAME} characters: lower-case letters, digits and single "-", with at least one letter, not starting or ending with "-"`);
    }
  } else if (name !== undefined && isDnsLabel(name, MAX_TEMPLATE_NAME) && !isPortName(`${name}-metrics`)) {
    add([], `missing field "portName": the default "${name}-metrics" is longer than ${MAX_PORT_NAME} characters`);
  }

  const path = str(doc.path);
  if (path !== undefined) {
    const why = pathProblem(path);
    if (why) add(['path'], `"${path}" ${why}`);
  }
}

/** The target default must be valid for its format, and `{target}` is used exactly when there is one. */
function checkTargetAndPlaceholders(doc: JsonObject, { add, claimEnv }: Claims): void {
  let format: TargetFormat | undefined;
  if (isJsonObject(doc.target)) {
    const f = str(doc.target.format);
    if (f === 'url' || f === 'hostport' || f === 'dsn' || f === 'none') format = f;
    const def = str(doc.target.default);
    if (format !== undefined && def !== undefined) {
      const why = targetProblem(format, def);
      if (why) add(['target', 'default'], `"${def}" ${why} (target.format is ${format})`);
    }
  }
  let usesTarget = false;
  const checkPlaceholders = (s: string, where: DocPath): void => {
    for (const ph of placeholdersIn(s)) {
      if (ph === 'target') usesTarget = true;
      if (!(PLACEHOLDERS as readonly string[]).includes(ph)) {
        add(where, `unknown placeholder "{${ph}}"; valid placeholders: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`);
      }
    }
  };
  list(doc.args).forEach((a, i) => {
    if (typeof a === 'string') checkPlaceholders(a, ['args', i]);
  });
  list(doc.env).forEach((e, i) => {
    if (!isJsonObject(e)) return;
    const n = str(e.name);
    if (n !== undefined) claimEnv(n, ['env', i, 'name']);
    const v = str(e.value);
    if (v !== undefined) checkPlaceholders(v, ['env', i, 'value']);
  });
  if (format !== undefined && format !== 'none' && !usesTarget) {
    add(['target', 'format'], `is "${format}" but no arg or env value uses "{target}"; use {target} or set target.format to none`);
  }
  if (format === 'none' && usesTarget) {
    add(['target', 'format'], 'is "none" but an arg or env value uses "{target}"');
  }
}

function checkCredentials(doc: JsonObject, { add, claimEnv }: Claims): void {
  list(doc.credentials).forEach((c, i) => {
    if (!isJsonObject(c)) return;
    const e = str(c.env);
    if (e !== undefined) claimEnv(e, ['credentials', i, 'env']);
    const k = str(c.key);
    if (k !== undefined && !(SECRET_KEY.test(k) && k.length <= 253)) {
      add(['credentials', i, 'key'], `"${k}" must be a Secret key (letters, digits, "-", "_" and ".")`);
    }
  });
}

/** Checks common to every parameter, then the kind's own (PARAM_KINDS) and the fields it does not read. */
function checkParams(doc: JsonObject, claims: Claims): void {
  const { add } = claims;
  const name = str(doc.name);
  const paramNames = new Map<string, number>();
  list(doc.params).forEach((p, i) => {
    if (!isJsonObject(p)) return;
    const at = (...rest: readonly (string | number)[]): DocPath => ['params', i, ...rest];
    const pn = str(p.name);
    if (pn !== undefined) {
      if ((GENERIC_PARAMS as readonly string[]).includes(pn)) {
        add(at('name'), `"${pn}" is a generic parameter every template has (${GENERIC_PARAMS.join(', ')}); choose another name`);
      } else if (!PARAM_NAME.test(pn)) {
        add(at('name'), `"${pn}" must be lower-case letters, digits and "-", starting with a letter and not ending with "-"`);
      } else if (name !== undefined && `${name}.${pn}`.length > MAX_ANNOTATION_NAME) {
        add(at('name'), `"${pn}" is too long: the annotation name "${name}.${pn}" must be at most ${MAX_ANNOTATION_NAME} characters`);
      }
      const first = paramNames.get(pn);
      if (first !== undefined) add(at('name'), `parameter "${pn}" is already declared by params[${first}]`);
      else paramNames.set(pn, i);
    }
    const pattern = str(p.pattern);
    if (pattern !== undefined) {
      try {
        new RegExp(`^(?:${pattern})$`, 'u');
      } catch (e) {
        add(at('pattern'), `does not compile: ${(e as Error).message}`);
      }
    }
    const arg = str(p.arg);
    for (const a of [...(arg !== undefined ? [arg] : []), ...list(p.args).filter((x): x is string => typeof x === 'string')]) {
      for (const ph of placeholdersIn(a)) {
        if (ph !== 'value') add(at(arg === a ? 'arg' : 'args'), `unknown placeholder "{${ph}}"; the only placeholder in a parameter's arg is {value}`);
      }
    }
    const kindName = str(p.kind);
    if (kindName === undefined || !Object.hasOwn(PARAM_KINDS, kindName)) return;
    const kind: ParamKind = PARAM_KINDS[kindName as keyof typeof PARAM_KINDS];
    for (const field of PARAM_FIELDS) {
      if (p[field] !== undefined && !kind.fields.includes(field)) {
        add(at(field), `is not used by kind "${kindName}" (it reads: ${kind.fields.join(', ')})`);
      }
    }
    const ctx: ParamCheckContext = {
      add: (rest, message) => add(at(...rest), message),
      claimEnv: (envName, rest) => claims.claimEnv(envName, at(...rest)),
      claimMount: (mountPath, rest) => claims.claimMount(mountPath, at(...rest)),
    };
    kind.check(p, ctx);
  });
}

/** Extra listening ports: none twice, none on the metrics port with TCP. */
function checkListens(doc: JsonObject, { add }: Claims): void {
  const seen = new Set<string>();
  if (typeof doc.port === 'number') seen.add(`${doc.port}/TCP`);
  list(doc.listens).forEach((l, i) => {
    if (!isJsonObject(l) || typeof l.port !== 'number' || typeof l.protocol !== 'string') return;
    const id = `${l.port}/${l.protocol}`;
    if (seen.has(id)) add(['listens', i], `port ${id} is listed twice (or is the metrics port)`);
    seen.add(id);
  });
}

function checkResources(doc: JsonObject, { add }: Claims): void {
  if (!isJsonObject(doc.resources)) return;
  const r = doc.resources;
  const q = (group: string, key: string): number | undefined => {
    const g = r[group];
    if (!isJsonObject(g)) return undefined;
    const v = str(g[key]);
    if (v === undefined) return undefined;
    const n = parseQuantity(v);
    if (n === undefined) {
      add(['resources', group, key], `"${v}" is not a Kubernetes quantity (for example ${key === 'cpu' ? '50m' : '64Mi'})`);
      return undefined;
    }
    if (!(n > 0)) add(['resources', group, key], `"${v}" must be greater than zero`);
    return n;
  };
  const reqCpu = q('requests', 'cpu');
  const reqMem = q('requests', 'memory');
  const limCpu = q('limits', 'cpu');
  const limMem = q('limits', 'memory');
  if (reqMem !== undefined && limMem !== undefined && limMem < reqMem) add(['resources', 'limits', 'memory'], 'must be at least requests.memory');
  if (reqCpu !== undefined && limCpu !== undefined && limCpu < reqCpu) add(['resources', 'limits', 'cpu'], 'must be at least requests.cpu');
}

function checkSecurityContext(doc: JsonObject, { add }: Claims): void {
  if (!isJsonObject(doc.securityContext)) return;
  const uid = doc.securityContext.runAsUser;
  if (typeof uid === 'number' && Number.isInteger(uid) && (uid < 1 || uid > 2147483647)) {
    add(['securityContext', 'runAsUser'], `${uid} must be a non-root UID from 1 to 2147483647 (Pod Security Standard restricted); use 65534 for images that run as root`);
  }
}

function checkProbes(doc: JsonObject, { add }: Claims): void {
  if (!isJsonObject(doc.probes)) return;
  for (const [kind, pr] of Object.entries(doc.probes)) {
    if (!isJsonObject(pr)) continue;
    const pp = str(pr.path);
    if (pp === undefined) continue;
    const why = pathProblem(pp);
    if (why) add(['probes', kind, 'path'], `"${pp}" ${why}`);
  }
}

/** `['params', 1, 'name']` → `params[1].name`. */
export function formatPath(path: DocPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

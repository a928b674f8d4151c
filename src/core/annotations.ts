// Stage 2a: read the pod's exporter-injector.io/* annotations into a typed opt-in, or problems.
import { PREFIX, type Policy, type Problem, type RunAsUserMode, type ScrapeMode, type SidecarMode } from './types.js';
import { closest } from './values.js';

export const ANNOTATION = {
  inject: `${PREFIX}inject`,
  policy: `${PREFIX}policy`,
  scrape: `${PREFIX}scrape`,
  sidecar: `${PREFIX}sidecar`,
  runAsUser: `${PREFIX}run-as-user`,
  /** Written by the injector: what was injected, from which template version and hash. */
  status: `${PREFIX}status`,
} as const;

/** Label on every injected pod, for a PodMonitor's selector. */
export const INJECTED_LABEL = `${PREFIX}injected`;

/** Parameters every template accepts, as `<template>.<param>`. */
export const GENERIC_PARAMS = ['image', 'port', 'target', 'secret', 'args', 'cpu', 'memory', 'path'] as const;

export interface OptIn {
  /** Template names in the order the pod lists them. */
  readonly templates: readonly string[];
  readonly policy: Policy;
  readonly scrape: ScrapeMode;
  /** Unset means the cluster default (settings.defaultSidecarMode). */
  readonly sidecar: SidecarMode | undefined;
  /** Unset means the setting (settings.runAsUser). */
  readonly runAsUser?: RunAsUserMode | undefined;
  /** `<template>.<param>` values, keyed by template then param. */
  readonly params: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

export type OptInResult =
  | { readonly optedIn: false }
  | { readonly optedIn: true; readonly optIn: OptIn; readonly problems: readonly Problem[] };

const TEMPLATE_NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;
const PARAM_KEY = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?)\.([a-z0-9]([a-z0-9-]*[a-z0-9])?)$/;

function enumValue<T extends string>(
  annotations: Record<string, string>,
  key: string,
  allowed: readonly T[],
  fallback: T | undefined,
  problems: Problem[],
): T | undefined {
  const raw = annotations[key];
  if (raw === undefined) return fallback;
  const value = raw.trim();
  // The constant, not the pod's copy of it: constants are hashed once when used as keys.
  const known = allowed.indexOf(value as T);
  if (known >= 0) return allowed[known];
  problems.push({
    code: 'EI_ERR_ANNOTATION_VALUE',
    message: `annotation ${key}: invalid value ${JSON.stringify(raw)}; valid values: ${allowed.join(', ')}`,
  });
  return fallback;
}

/** The valid values of the enumerated annotations. */
const POLICY_VALUES: readonly Policy[] = ['required', 'optional'];
const SCRAPE_VALUES: readonly ScrapeMode[] = ['auto', 'override', 'off'];
const SIDECAR_VALUES: readonly SidecarMode[] = ['native', 'classic'];
const RUN_AS_USER_VALUES: readonly RunAsUserMode[] = ['template', 'omit'];

/** The params of a pod that sets none (most pods). */
const NO_PARAMS: OptIn['params'] = new Map();

const KNOWN_ANNOTATIONS: ReadonlySet<string> = new Set(Object.values(ANNOTATION));

/** Reads the opt-in. A pod without `inject`, or with `inject: "false"` or empty, is not opted in. */
export function parseOptIn(annotations: Record<string, string> | undefined): OptInResult {
  const raw = annotations?.[ANNOTATION.inject];
  if (annotations === undefined || raw === undefined) return { optedIn: false };
  // Most pods list one template: no split for them.
  const one = raw.includes(',') ? undefined : raw.trim();
  const listed = one === undefined ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : one === '' ? [] : [one];
  if (listed.length === 0 || (listed.length === 1 && listed[0] === 'false')) return { optedIn: false };

  const problems: Problem[] = [];
  const templates: string[] = [];
  for (const name of listed) {
    if (!TEMPLATE_NAME.test(name)) {
      problems.push({
        code: 'EI_ERR_ANNOTATION_VALUE',
        message: `annotation ${ANNOTATION.inject}: ${JSON.stringify(name)} is not a template name; valid: a comma-separated list of lower-case template names such as "redis" or "redis,statsd", or "false"`,
      });
    } else if (templates.includes(name)) {
      problems.push({ code: 'EI_ERR_ANNOTATION_VALUE', message: `annotation ${ANNOTATION.inject}: template "${name}" is listed twice` });
    } else {
      templates.push(name);
    }
  }

  // A malformed policy fails safe: `required` denies rather than silently admitting.
  const policy = enumValue(annotations, ANNOTATION.policy, POLICY_VALUES, 'required', problems) ?? 'required';
  const scrape = enumValue(annotations, ANNOTATION.scrape, SCRAPE_VALUES, 'auto', problems) ?? 'auto';
  const sidecar = enumValue(annotations, ANNOTATION.sidecar, SIDECAR_VALUES, undefined, problems);
  const runAsUser = enumValue(annotations, ANNOTATION.runAsUser, RUN_AS_USER_VALUES, undefined, problems);

  let params: Map<string, Map<string, string>> | undefined;
  for (const key of Object.keys(annotations)) {
    if (!key.startsWith(PREFIX) || KNOWN_ANNOTATIONS.has(key)) continue;
    const rest = key.slice(PREFIX.length);
    const match = PARAM_KEY.exec(rest);
    if (!match) {
      const userKeys = Object.values(ANNOTATION).filter((k) => k !== ANNOTATION.status);
      const hint = closest(key.toLowerCase(), userKeys);
      problems.push({
        code: 'EI_ERR_ANNOTATION_UNKNOWN',
        message: `annotation ${key} is not recognised${hint ? ` (did you mean ${hint}?)` : ''}; valid keys: ${userKeys.join(', ')} and ${PREFIX}<template>.<param>`,
      });
      continue;
    }
    const [, template = '', , param = ''] = match;
    if (!templates.includes(template)) {
      problems.push({
        code: 'EI_ERR_ANNOTATION_UNKNOWN',
        message: `annotation ${key} configures template "${template}", which ${ANNOTATION.inject} does not list (it lists: ${templates.join(', ') || 'nothing valid'})`,
      });
      continue;
    }
    params ??= new Map();
    let forTemplate = params.get(template);
    if (!forTemplate) params.set(template, (forTemplate = new Map()));
    forTemplate.set(param, annotations[key]!);
  }

  return { optedIn: true, optIn: { templates, policy, scrape, sidecar, runAsUser, params: params ?? NO_PARAMS }, problems };
}

/**
 * For a pod that is not opted in: annotations that look like a mistyped opt-in (another case, a
 * letter off, a misspelt prefix), one warning each, so "not injected" comes with the reason.
 */
export function nearMissOptIn(annotations: Record<string, string> | null | undefined): string[] {
  // null: `annotations: null` is valid JSON for "none" (podShapeProblems lets it through).
  if (annotations === undefined || annotations === null) return [];
  const warnings: string[] = [];
  for (const key of Object.keys(annotations)) {
    // Cheap filters first: this runs for every pod that is not opted in.
    if (key === ANNOTATION.inject || Math.abs(key.length - ANNOTATION.inject.length) > 2 || !/export|inject/i.test(key)) continue;
    if (key.toLowerCase() === ANNOTATION.inject) {
      warnings.push(`annotation ${key} is not ${ANNOTATION.inject} (annotation keys are case-sensitive), so the pod is not opted in; did you mean ${ANNOTATION.inject}?`);
    } else if (closest(key, [ANNOTATION.inject]) !== undefined) {
      warnings.push(`annotation ${key} is not ${ANNOTATION.inject}, so the pod is not opted in; did you mean ${ANNOTATION.inject}?`);
    }
  }
  return warnings;
}

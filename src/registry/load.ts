// Loads the template registry: the built-in templates, then a user directory whose templates add
// to or replace them by name. The built-ins come compiled: builtin-templates.json holds them
// validated, filled in and hashed (from templates/*.yaml, by test/registry/builtin-json.test.ts),
// so a webhook without a templates directory starts without the YAML parser and the schema. A
// directory is read and validated by validate.ts, loaded only then. The registry is frozen so no
// later stage can change it.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { deepFreeze } from '../core/freeze.js';
import type { ExporterTemplate, Registry } from '../core/types.js';
import { InjectorError } from '../errors.js';

/** Built-ins live beside this module in src/ and, after `npm run build`, in dist/src/ (scripts/copy-assets.mjs). */
export const BUILTIN_DIR = fileURLToPath(new URL('./templates/', import.meta.url));
/** The built-ins as validate.ts makes them from BUILTIN_DIR. */
export const BUILTIN_JSON = fileURLToPath(new URL('./builtin-templates.json', import.meta.url));

export interface CompiledTemplates {
  readonly generated: string;
  readonly templates: readonly ExporterTemplate[];
}

/**
 * The built-in templates plus those of `userDir` (which win by name), validated and frozen.
 * Throws InjectorError EI_ERR_REGISTRY_INVALID listing every problem in `details`.
 */
export async function loadRegistry(userDir?: string): Promise<Registry> {
  const builtin = (JSON.parse(await readFile(BUILTIN_JSON, 'utf8')) as CompiledTemplates).templates;
  if (userDir === undefined) return buildRegistry(builtin);
  const { readTemplateDir } = await import('./validate.js');
  const user = await readTemplateDir(userDir);
  if (user.problems.length > 0) {
    const n = user.problems.length;
    throw new InjectorError('EI_ERR_REGISTRY_INVALID', `${n} problem${n === 1 ? '' : 's'} in templates directory ${userDir}`, { details: user.problems });
  }
  return buildRegistry([...builtin, ...user.templates]);
}

/** A frozen registry; a later template replaces an earlier one of the same name. */
export function buildRegistry(templates: readonly ExporterTemplate[]): Registry {
  const byName = new Map<string, ExporterTemplate>();
  for (const t of [...templates].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) byName.set(t.name, deepFreeze(t));
  // Map.set would still work on a frozen Map; shadow the mutators so the registry stays as loaded.
  for (const m of ['set', 'delete', 'clear'] as const) {
    Object.defineProperty(byName, m, {
      value: () => {
        throw new TypeError(`the template registry is read-only (${m})`);
      },
    });
  }
  return Object.freeze({ templates: Object.freeze(byName) });
}

// Loads what the core needs for the offline commands (inject, review), from the same loaders serve uses.
import { InjectorError } from '../errors.js';
import { DEFAULT_CORE_SETTINGS } from '../core/defaults.js';
import type { CoreSettings, Registry, SidecarMode } from '../core/types.js';
import { loadRegistry } from '../registry/load.js';

export const CORE_FLAGS = {
  templates: { type: 'string' },
  'sidecar-mode': { type: 'string' },
} as const;

export interface CoreContext {
  readonly registry: Registry;
  readonly settings: CoreSettings;
}

export async function loadCoreContext(values: { templates?: string; 'sidecar-mode'?: string }): Promise<CoreContext> {
  const mode = values['sidecar-mode'] ?? DEFAULT_CORE_SETTINGS.defaultSidecarMode;
  if (mode !== 'native' && mode !== 'classic') {
    throw new InjectorError('EI_ERR_USAGE', `--sidecar-mode ${JSON.stringify(mode)} is not valid; valid: native (Kubernetes ≥ 1.29, the default) or classic`);
  }
  const registry = await loadRegistry(values.templates);
  return { registry, settings: Object.freeze({ ...DEFAULT_CORE_SETTINGS, defaultSidecarMode: mode as SidecarMode }) };
}

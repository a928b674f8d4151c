// Loads what the core needs for the offline commands (inject, review), with the flags and loaders
// serve uses.
import type { CoreSettings, Registry, RunAsUserMode } from '../core/types.js';
import { CORE_FLAGS, parseIgnoredNamespaces, resolveSidecarMode, type SidecarModeSetting } from '../config/core-settings.js';
import { InjectorError } from '../errors.js';
import { loadRegistry } from '../registry/load.js';

export { CORE_FLAGS } from '../config/core-settings.js';

export interface CoreContext {
  readonly registry: Registry;
  readonly settings: CoreSettings;
}

export async function loadCoreContext(values: { templates?: string | undefined; 'sidecar-mode'?: string; 'ignored-namespaces'?: string; 'run-as-user'?: string }): Promise<CoreContext> {
  const ignored = parseIgnoredNamespaces(values['ignored-namespaces'] ?? CORE_FLAGS['ignored-namespaces'].default, '--ignored-namespaces');
  if ('problem' in ignored) throw new InjectorError('EI_ERR_USAGE', ignored.problem);
  const registry = await loadRegistry(values.templates);
  const settings: CoreSettings = Object.freeze({
    ignoredNamespaces: ignored.names,
    defaultSidecarMode: resolveSidecarMode((values['sidecar-mode'] ?? CORE_FLAGS['sidecar-mode'].default) as SidecarModeSetting),
    runAsUser: (values['run-as-user'] ?? CORE_FLAGS['run-as-user'].default) as RunAsUserMode,
  });
  return { registry, settings };
}

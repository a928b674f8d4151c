// The settings of the core that every command running it shares (serve, inject, review): the same
// flags, environment variables, defaults and meaning, so `--sidecar-mode auto` means one thing.
import { DEFAULT_CORE_SETTINGS, DEFAULT_IGNORED_NAMESPACES } from '../core/defaults.js';
import type { RunAsUserMode, SidecarMode } from '../core/types.js';
import { isDnsLabel } from '../core/values.js';
import type { Flag } from './flags.js';

export const SIDECAR_MODES = ['auto', 'native', 'classic'] as const;
export type SidecarModeSetting = (typeof SIDECAR_MODES)[number];
export const RUN_AS_USER_MODES = ['template', 'omit'] as const satisfies readonly RunAsUserMode[];

/** Flags of every command that runs the core. */
export const CORE_FLAGS = {
  templates: { type: 'string', value: 'DIR', env: 'EXPORTER_INJECTOR_TEMPLATES', help: 'directory of templates that add to or override the built-ins (serve watches it and reloads)' },
  'sidecar-mode': {
    type: 'string',
    value: 'MODE',
    choices: SIDECAR_MODES,
    default: 'auto',
    env: 'EXPORTER_INJECTOR_SIDECAR_MODE',
    help: 'default for pods without a sidecar annotation: native (Kubernetes >= 1.29), classic, or auto (from the cluster version; native when no cluster is reachable, and always offline)',
  },
  'run-as-user': {
    type: 'string',
    value: 'MODE',
    choices: RUN_AS_USER_MODES,
    default: 'template',
    env: 'EXPORTER_INJECTOR_RUN_AS_USER',
    help: 'template: exporters run as their template\'s UID; omit: runAsUser/runAsGroup left out where the image declares a numeric non-root USER, for platforms that assign UIDs (OpenShift restricted-v2); a pod\'s run-as-user annotation wins',
  },
  'ignored-namespaces': {
    type: 'string',
    value: 'NS,NS',
    default: DEFAULT_IGNORED_NAMESPACES.join(','),
    env: 'EXPORTER_INJECTOR_IGNORED_NAMESPACES',
    help: 'comma list of namespaces never injected ("" for none)',
  },
} as const satisfies Record<string, Flag>;

/** Checks the comma list; returns the problem, or the names. */
export function parseIgnoredNamespaces(raw: string, source: string): { names: readonly string[] } | { problem: string } {
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = names.filter((n) => !isDnsLabel(n));
  if (bad.length > 0) {
    return { problem: `${source} "${raw}": ${bad.map((b) => `"${b}"`).join(', ')} not a namespace name; want a comma list of DNS labels such as kube-system,kube-public` };
  }
  return { names: Object.freeze([...new Set(names)]) };
}

/** `auto` means the cluster's version decides; offline there is no cluster, so it means native. */
export function resolveSidecarMode(setting: SidecarModeSetting, detected: SidecarMode | undefined = undefined): SidecarMode {
  return setting === 'auto' ? (detected ?? DEFAULT_CORE_SETTINGS.defaultSidecarMode) : setting;
}

// Defaults of the core settings, shared by serve and the dry-run CLI so both answer alike.
import type { CoreSettings } from './types.js';

/** Never injected, even when a pod opts in: the cluster's own namespaces. */
export const DEFAULT_IGNORED_NAMESPACES = Object.freeze(['kube-system', 'kube-public', 'kube-node-lease']);

export const DEFAULT_CORE_SETTINGS: CoreSettings = Object.freeze({
  ignoredNamespaces: DEFAULT_IGNORED_NAMESPACES,
  defaultSidecarMode: 'native',
});

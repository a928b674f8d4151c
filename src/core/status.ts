// The status annotation: what was injected, from which template version and hash. Reading it
// back tells whether the registry has moved on since (drift), without touching the pod.
import { ANNOTATION } from './annotations.js';
import type { Registry } from './types.js';

export interface InjectionStatus {
  readonly templates: readonly { name: string; version: string; hash: string; container: string }[];
  readonly sidecar: 'native' | 'classic';
}

/** One sentence per injected template whose registry entry differs now; empty when none or unreadable. */
export function statusDrift(annotations: Readonly<Record<string, string>> | undefined, registry: Registry): string[] {
  let status: InjectionStatus;
  try {
    status = JSON.parse(annotations?.[ANNOTATION.status] ?? '') as InjectionStatus;
  } catch {
    return [];
  }
  if (!Array.isArray(status?.templates)) return [];
  return status.templates.flatMap((t) => {
    const now = registry.templates.get(t.name);
    if (!now) return [`template "${t.name}" (${t.version}, ${t.hash}) is no longer in the registry`];
    if (now.hash === t.hash) return [];
    return [`template "${t.name}" changed since injection: ${t.version} ${t.hash} -> ${now.version} ${now.hash}; recreate the pod to pick it up`];
  });
}

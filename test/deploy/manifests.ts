// Builds deploy/ with `kubectl kustomize` and checks objects the way the API server would: the OpenAPI schema
// (kubernetes-models) and strict field validation (no field the type does not have).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { gvk, type Obj } from '../helpers/k8s-schema.js';

export { gvk, schemaProblems, type Obj } from '../helpers/k8s-schema.js';

export const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');
export const OVERLAYS = ['cert-manager', 'self-managed', 'prometheus-operator'] as const;

/** `kubectl kustomize DIR`, parsed; throws with kustomize's message when the build fails. */
export function kustomize(dir: string): Obj[] {
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error('kubectl is not on PATH; the deploy/ tests build the manifests with `kubectl kustomize` (kubectl >= 1.27)');
    throw new Error(`kubectl kustomize ${dir} failed: ${err.stderr ?? err.message}`);
  }
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length > 0) throw new Error(`${dir}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Obj;
  });
}

/** Custom resources checked by hand in the tests (their schemas are not in kubernetes-models). */
export const CUSTOM_KINDS = new Set(['cert-manager.io/v1/Issuer', 'cert-manager.io/v1/Certificate', 'monitoring.coreos.com/v1/PodMonitor', 'monitoring.coreos.com/v1/ServiceMonitor']);

export function find(objects: Obj[], kind: string, name?: string): Obj {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as Obj;
}

export function findAll(objects: Obj[], kind: string): Obj[] {
  return objects.filter((o) => o.kind === kind);
}

/** Whether a label selector's matchLabels select `labels`. */
export function selects(selector: Obj | undefined, labels: Obj | undefined): boolean {
  const want = selector?.matchLabels ?? selector ?? {};
  return Object.keys(want).length > 0 && Object.entries(want).every(([k, v]) => labels?.[k] === v);
}

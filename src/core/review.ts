// Stages 1 and 5: decode an AdmissionReview admission.k8s.io/v1 from unknown JSON, and encode the
// response the API server expects. Also wraps a bare Pod into a synthetic review for the CLI.
import { InjectorError } from '../errors.js';
import { isJsonObject } from './json.js';
import { CONTAINER_LISTS, type AdmissionRequest, type AdmissionResponse, type AdmissionReviewResponse, type Pod } from './types.js';

function invalid(message: string): InjectorError {
  return new InjectorError('EI_ERR_REVIEW_INVALID', message);
}

export function decodeReview(body: unknown): AdmissionRequest {
  if (!isJsonObject(body)) throw invalid('the body must be a JSON object: an AdmissionReview of apiVersion admission.k8s.io/v1');
  if (body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') {
    throw invalid(
      `apiVersion/kind ${JSON.stringify(body.apiVersion)}/${JSON.stringify(body.kind)} is not supported; valid: admission.k8s.io/v1 AdmissionReview (set admissionReviewVersions: [v1] in the webhook configuration)`,
    );
  }
  const request = body.request;
  if (!isJsonObject(request)) throw invalid('request is missing: an AdmissionReview sent to a webhook must carry a request object');
  if (typeof request.uid !== 'string' || request.uid === '') throw invalid('request.uid is missing or not a string; the API server always sends one');
  const kind = request.kind;
  if (!isJsonObject(kind) || typeof kind.kind !== 'string' || typeof kind.version !== 'string' || typeof kind.group !== 'string') {
    throw invalid('request.kind must be an object {group, version, kind}');
  }
  if (typeof request.operation !== 'string') throw invalid('request.operation is missing; valid: CREATE, UPDATE, DELETE or CONNECT');
  return request as unknown as AdmissionRequest;
}

export function isPodRequest(request: AdmissionRequest): boolean {
  return request.kind.group === '' && request.kind.kind === 'Pod';
}

/**
 * What makes an object unreadable as a Pod, one sentence each, naming the field and what is valid;
 * empty when the core can read it safely. The webhook answers 400 with these; `inject` reports them
 * per document and goes on.
 */
export function podShapeProblems(object: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const spec = object.spec;
  if (!isJsonObject(spec)) problems.push('spec is missing or not a map: a Pod needs spec.containers');
  else {
    // A value that is there but not a list is named by specListProblems.
    if (spec.containers === undefined || spec.containers === null) problems.push('spec.containers must be a list of containers');
    specListProblems(spec, problems);
  }
  const metadata = object.metadata;
  if (metadata !== undefined && !isJsonObject(metadata)) {
    problems.push('metadata must be a map');
    return problems;
  }
  for (const field of STRING_MAPS) {
    const map = metadata?.[field];
    if (map === undefined || map === null) continue;
    if (!isJsonObject(map)) {
      problems.push(`metadata.${field} must be a map of strings`);
      continue;
    }
    for (const key of Object.keys(map)) {
      const value = map[key];
      if (typeof value === 'string') continue;
      const shown = value === null ? 'null' : typeof value === 'object' ? (Array.isArray(value) ? 'a list' : 'a map') : `${typeof value} ${JSON.stringify(value)}`;
      const quoted = value === null || typeof value === 'object' ? '' : `, e.g. ${JSON.stringify(String(value))}`;
      problems.push(`metadata.${field}[${JSON.stringify(key)}] is ${shown}; ${field === 'annotations' ? 'annotation' : 'label'} values must be strings: quote the value in YAML${quoted}`);
    }
  }
  return problems;
}

const STRING_MAPS = ['annotations', 'labels'] as const;
const CONTAINER_STRINGS = ['name', 'image', 'restartPolicy'] as const;

/**
 * The lists the core walks (containers, their ports, volumes) hold maps, and the strings it reads
 * are strings: the API server always sends them so, but another client need not, and a null
 * container must be a 400 naming it rather than a TypeError answered 500. (This runs for every
 * pod: it walks the lists in place, with plain loops, and names a field only for a problem.)
 */
function specListProblems(spec: Record<string, unknown>, problems: string[]): void {
  for (const [list] of CONTAINER_LISTS) {
    const containers = spec[list];
    const listProblem = listShapeProblem(containers, 'containers');
    if (listProblem !== undefined) problems.push(`spec.${list}${listProblem}`);
    if (!Array.isArray(containers)) continue;
    for (let i = 0; i < containers.length; i += 1) {
      const container: unknown = containers[i];
      if (!isJsonObject(container)) continue;
      for (const field of CONTAINER_STRINGS) {
        if (container[field] !== undefined && typeof container[field] !== 'string') problems.push(`spec.${list}[${i}].${field} must be a string`);
      }
      const portsProblem = listShapeProblem(container.ports, 'ports');
      if (portsProblem !== undefined) problems.push(`spec.${list}[${i}].ports${portsProblem}`);
    }
  }
  const volumesProblem = listShapeProblem(spec.volumes, 'volumes');
  if (volumesProblem !== undefined) problems.push(`spec.volumes${volumesProblem}`);
}

/**
 * What is wrong with a list the core walks, as the end of a sentence that starts with its field's
 * name, or undefined when nothing is (undefined and null are no list): a value that is not a
 * list, or the first item that is not a map.
 */
function listShapeProblem(value: unknown, what: 'containers' | 'ports' | 'volumes'): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) return ` must be a list of ${what}`;
  for (let i = 0; i < value.length; i += 1) {
    if (!isJsonObject(value[i])) return `[${i}] must be a map (a ${what.slice(0, -1)})`;
  }
  return undefined;
}

/** The Pod in a CREATE request, checked just enough that the core can read it safely. */
export function podOf(request: AdmissionRequest): Pod {
  const object = request.object;
  if (!isJsonObject(object)) throw new InjectorError('EI_ERR_REVIEW_OBJECT', 'request.object is missing: a Pod CREATE review must carry the Pod');
  if (object.kind !== undefined && object.kind !== 'Pod') {
    throw new InjectorError('EI_ERR_REVIEW_OBJECT', `request.object is a ${JSON.stringify(object.kind)}, but request.kind says Pod`);
  }
  const problems = podShapeProblems(object);
  if (problems.length > 0) {
    throw new InjectorError('EI_ERR_REVIEW_OBJECT', `request.object is not a valid Pod: ${problems.map((p) => `request.object.${p}`).join('; ')}`, { details: problems });
  }
  return object as Pod;
}

export function encodeResponse(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/** What the API server would send for creating this pod; the CLI runs the same core through it. */
export function syntheticReview(pod: Pod, namespace: string, uid = 'dry-run'): unknown {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: 'CREATE',
      object: pod,
      dryRun: true,
    },
  };
}

// The single pipeline that the server and the CLI both call:
// decode review -> decide (annotations + registry) -> render + plan the changes -> patch -> encode.
import { ANNOTATION, nearMissOptIn, parseOptIn } from './annotations.js';
import { planInjection } from './mutate.js';
import { injectionPatch, type Patch, type PatchOperation } from './patch.js';
import { decodeReview, encodeResponse, isPodRequest, podOf } from './review.js';
import { MIRROR_POD_ANNOTATION, type AdmissionResponse, type AdmissionReviewResponse, type CoreSettings, type Outcome, type Pod, type Problem, type Registry, type SkipReason } from './types.js';

export interface AdmitResult {
  readonly review: AdmissionReviewResponse;
  readonly outcome: Outcome;
  /** The JSON Patch sent (empty when nothing changes), for the CLI and tests. Shared: never change it. */
  readonly patch: readonly PatchOperation[];
  /** The request as decoded, for log fields. */
  readonly request: { uid: string; namespace: string | undefined; name: string | undefined; dryRun: boolean };
}

const NO_OPERATIONS: readonly PatchOperation[] = Object.freeze([]);

function skipped(reason: SkipReason, warnings: string[] = [], problems: readonly Problem[] = []): Outcome {
  return { decision: 'skipped', reason, templates: [], warnings, problems, patchOperations: 0 };
}

/** Pure and synchronous. Throws InjectorError (EI_ERR_REVIEW_*) only for a malformed review. */
export function admit(body: unknown, registry: Registry, settings: CoreSettings): AdmitResult {
  const request = decodeReview(body);

  const answer = (outcome: Outcome, patch?: Patch, namespace?: string, name?: string): AdmitResult => {
    // Set field by field: spreading optional fields into a literal copies through the runtime.
    const response: AdmissionResponse = { uid: request.uid, allowed: outcome.decision !== 'denied' };
    if (outcome.decision === 'denied') {
      response.status = { code: 403, reason: 'Forbidden', message: `exporter-injector denied the pod: ${outcome.problems.map((p) => p.message).join('; ')}` };
    } else if (patch !== undefined && patch.operations.length > 0) {
      response.patchType = 'JSONPatch';
      response.patch = patch.base64;
    }
    if (outcome.warnings.length > 0) response.warnings = [...outcome.warnings];
    return { review: encodeResponse(response), outcome, patch: patch?.operations ?? NO_OPERATIONS, request: { uid: request.uid, dryRun: request.dryRun === true, namespace, name } };
  };

  if (!isPodRequest(request)) return answer(skipped('not-a-pod'));
  if (request.operation !== 'CREATE') return answer(skipped('not-create'));
  if (request.subResource) return answer(skipped('subresource'));

  const pod: Pod = podOf(request);
  const namespace = request.namespace ?? pod.metadata?.namespace;
  const name = pod.metadata?.name ?? (pod.metadata?.generateName ? `${pod.metadata.generateName}*` : undefined);
  if (namespace !== undefined && settings.ignoredNamespaces.includes(namespace)) return answer(skipped('ignored-namespace'), undefined, namespace, name);

  const annotations = pod.metadata?.annotations;
  if (annotations?.[MIRROR_POD_ANNOTATION] !== undefined) return answer(skipped('mirror-pod'), undefined, namespace, name);
  const optInResult = parseOptIn(annotations);
  if (!optInResult.optedIn) return answer(skipped('not-opted-in', nearMissOptIn(annotations)), undefined, namespace, name);
  // Reinvocation (or a pod copied from an injected one): injected once is enough.
  if (annotations?.[ANNOTATION.status] !== undefined) return answer(skipped('already-injected'), undefined, namespace, name);

  const { optIn } = optInResult;
  // Rendered even when the annotations already have problems, so a denial lists every problem.
  const result = planInjection(pod, optIn, registry, settings);
  const problems = result.ok ? optInResult.problems : [...optInResult.problems, ...result.problems];

  if (!result.ok || problems.length > 0) {
    if (optIn.policy === 'optional') {
      const warnings = [...result.warnings, ...problems.map((p) => `exporter-injector did not inject (policy optional): ${p.message}`)];
      return answer(skipped('problems-ignored', warnings, problems), undefined, namespace, name);
    }
    return answer({ decision: 'denied', reason: 'denied', templates: optIn.templates, warnings: result.warnings, problems, patchOperations: 0 }, undefined, namespace, name);
  }

  const patch = injectionPatch(pod, result.changes);
  return answer(
    { decision: 'injected', reason: 'injected', templates: result.templates, warnings: result.warnings, problems: [], patchOperations: patch.operations.length },
    patch,
    namespace,
    name,
  );
}

// The single pipeline that the server and the CLI both call:
// decode review -> decide (annotations + registry) -> render + plan the changes -> patch -> encode.
import { ANNOTATION, nearMissOptIn, parseOptIn } from './annotations.js';
import { planInjection } from './mutate.js';
import { encodePatch, injectionPatch, type PatchOperation } from './patch.js';
import { decodeReview, encodeResponse, isPodRequest, podOf } from './review.js';
import { MIRROR_POD_ANNOTATION, type AdmissionReviewResponse, type CoreSettings, type Outcome, type Pod, type Problem, type Registry, type SkipReason } from './types.js';

export interface AdmitResult {
  readonly review: AdmissionReviewResponse;
  readonly outcome: Outcome;
  /** The JSON Patch sent (empty when nothing changes), for the CLI and tests. */
  readonly patch: readonly PatchOperation[];
  /** The request as decoded, for log fields. */
  readonly request: { uid: string; namespace: string | undefined; name: string | undefined; dryRun: boolean };
}

function skipped(reason: SkipReason, warnings: string[] = [], problems: Problem[] = []): Outcome {
  return { decision: 'skipped', reason, templates: [], warnings, problems, patchOperations: 0 };
}

/** Pure and synchronous. Throws InjectorError (EI_ERR_REVIEW_*) only for a malformed review. */
export function admit(body: unknown, registry: Registry, settings: CoreSettings): AdmitResult {
  const request = decodeReview(body);

  const answer = (outcome: Outcome, patch: PatchOperation[] = [], namespace?: string, name?: string): AdmitResult => {
    const warnings = outcome.warnings.length > 0 ? { warnings: [...outcome.warnings] } : {};
    let review: AdmissionReviewResponse;
    if (outcome.decision === 'denied') {
      const message = `exporter-injector denied the pod: ${outcome.problems.map((p) => p.message).join('; ')}`;
      review = encodeResponse(request.uid, { allowed: false, status: { code: 403, reason: 'Forbidden', message }, ...warnings });
    } else if (patch.length > 0) {
      review = encodeResponse(request.uid, { allowed: true, patchType: 'JSONPatch', patch: encodePatch(patch), ...warnings });
    } else {
      review = encodeResponse(request.uid, { allowed: true, ...warnings });
    }
    return { review, outcome, patch, request: { uid: request.uid, dryRun: request.dryRun === true, namespace, name } };
  };

  if (!isPodRequest(request)) return answer(skipped('not-a-pod'));
  if (request.operation !== 'CREATE') return answer(skipped('not-create'));
  if (request.subResource) return answer(skipped('subresource'));

  const pod: Pod = podOf(request);
  const namespace = request.namespace ?? pod.metadata?.namespace;
  const name = pod.metadata?.name ?? (pod.metadata?.generateName ? `${pod.metadata.generateName}*` : undefined);
  if (namespace !== undefined && settings.ignoredNamespaces.includes(namespace)) return answer(skipped('ignored-namespace'), [], namespace, name);

  const annotations = pod.metadata?.annotations;
  if (annotations?.[MIRROR_POD_ANNOTATION] !== undefined) return answer(skipped('mirror-pod'), [], namespace, name);
  const optInResult = parseOptIn(annotations);
  if (!optInResult.optedIn) return answer(skipped('not-opted-in', nearMissOptIn(annotations)), [], namespace, name);
  // Reinvocation (or a pod copied from an injected one): injected once is enough.
  if (annotations?.[ANNOTATION.status] !== undefined) return answer(skipped('already-injected'), [], namespace, name);

  const { optIn } = optInResult;
  // Rendered even when the annotations already have problems, so a denial lists every problem.
  const result = planInjection(pod, optIn, registry, settings);
  const problems = [...optInResult.problems, ...(result.ok ? [] : result.problems)];

  if (!result.ok || problems.length > 0) {
    if (optIn.policy === 'optional') {
      const warnings = [...result.warnings, ...problems.map((p) => `exporter-injector did not inject (policy optional): ${p.message}`)];
      return answer(skipped('problems-ignored', warnings, problems), [], namespace, name);
    }
    return answer({ decision: 'denied', reason: 'denied', templates: optIn.templates, warnings: result.warnings, problems, patchOperations: 0 }, [], namespace, name);
  }

  const patch = injectionPatch(pod, result.changes);
  return answer(
    { decision: 'injected', reason: 'injected', templates: result.templates, warnings: result.warnings, problems: [], patchOperations: patch.length },
    patch,
    namespace,
    name,
  );
}

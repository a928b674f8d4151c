// The one catalog of coded errors. Every failure the project reports carries one of these
// codes, so logs, metrics, CLI exit codes and golden `.error` files match on something stable.
// (Not injecting is not an error: see SkipReason in core/types.ts.)

export const ERROR_CODES = {
  // A problem with a Pod's opt-in; handled by the pod's `policy` (deny or admit with a warning).
  EI_ERR_ANNOTATION_UNKNOWN: 'an annotation under the exporter-injector.io/ prefix that is not part of the contract',
  EI_ERR_ANNOTATION_VALUE: 'an annotation whose value is malformed (policy, scrape, sidecar, inject)',
  EI_ERR_TEMPLATE_UNKNOWN: 'inject names a template the registry does not have',
  EI_ERR_PARAM_UNKNOWN: 'a <template>.<param> annotation the template does not accept',
  EI_ERR_PARAM_INVALID: 'a <template>.<param> value that fails validation (port, quantity, image, target, ...)',
  EI_ERR_PARAM_MISSING: 'a parameter the template requires (for example a Secret with credentials) is not given',
  EI_ERR_CLASH_CONTAINER: 'the exporter container name is already used in the pod',
  EI_ERR_CLASH_VOLUME: 'a volume the exporter needs has the same name as a volume of the pod',
  EI_ERR_CLASH_PORT: 'the exporter port is already used by a container port in the pod',
  EI_ERR_CLASH_EXPORTER: 'the pod already runs the same exporter image',
  EI_ERR_POD_REQUIREMENT: 'the template needs something from the pod spec that it does not have',
  // A malformed AdmissionReview (HTTP 4xx from the server, exit code 2 from the CLI).
  EI_ERR_REVIEW_INVALID: 'the body is not an admission.k8s.io/v1 AdmissionReview with a request',
  EI_ERR_REVIEW_OBJECT: 'request.object is missing or is not a Pod',
  EI_ERR_HTTP_CONTENT_TYPE: 'the request content type is not application/json',
  EI_ERR_HTTP_ROUTE: 'a request to a method or path the webhook does not serve',
  EI_ERR_HTTP_BODY: 'the request body is empty, not JSON, or over the size limit',
  // Loading things at the edges.
  EI_ERR_REGISTRY_INVALID: 'a template file or directory fails the template schema',
  EI_ERR_CONFIG_INVALID: 'a flag or environment variable has an invalid value',
  EI_ERR_TLS_INVALID: 'a certificate or key cannot be read, does not parse, or the pair does not match',
  EI_ERR_INPUT_INVALID: 'a manifest or review file given to the CLI cannot be read or parsed',
  EI_ERR_KUBE_API: 'a call to the Kubernetes API server failed',
  EI_ERR_USAGE: 'a command line that does not fit the command',
  EI_ERR_INTERNAL: 'an unexpected internal error (a bug)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class InjectorError extends Error {
  readonly code: ErrorCode;
  /** Every problem found, where one check reports several at once (registry, config). */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'InjectorError';
    this.code = code;
    this.details = options.details ?? [];
  }
}

export function isInjectorError(e: unknown, code?: ErrorCode): e is InjectorError {
  return e instanceof InjectorError && (code === undefined || e.code === code);
}

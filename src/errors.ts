// The one catalog of coded errors. Every failure the project reports carries one of these codes,
// and the code alone decides what follows: the CLI's exit code, the server's HTTP status, the
// documented meaning (docs/errors.md is generated from this table and tested against it).
// (Not injecting is not an error: see SkipReason in core/types.ts.)

/** The CLI's exit codes. Every command exits with one of these, through the error catalog. */
export const EXIT = {
  OK: 0,
  /** A pod would be denied, a validation or check failed, an operation on the cluster failed. */
  FAILED: 1,
  /** The command line does not fit the command (or a setting is invalid). */
  USAGE: 2,
  /** An input file cannot be read or parsed. */
  INPUT: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** What each exit code means, for --help and the docs. */
export const EXIT_MEANINGS: Readonly<Record<ExitCode, string>> = {
  0: 'done',
  1: 'a pod would be denied, a check found a problem, or a call to the cluster failed',
  2: 'usage: an unknown flag or command, a missing or invalid flag value, an invalid setting',
  3: 'input: a manifest, review, template or certificate file cannot be read or parsed',
};

export interface ErrorSpec {
  readonly description: string;
  /** The exit code of a CLI run that fails with this code. */
  readonly exit: ExitCode;
  /** The HTTP status the webhook answers with; absent for codes that never reach HTTP as such. */
  readonly http?: number;
}

// A Pod's opt-in problem is handled by the pod's `policy`: in the webhook it becomes a denial or a
// warning inside a 200 AdmissionReview; in `inject` a denial exits 1.
const POD_PROBLEM = { exit: EXIT.FAILED } as const;

export const ERROR_CODES = {
  EI_ERR_ANNOTATION_UNKNOWN: { ...POD_PROBLEM, description: 'an annotation under the exporter-injector.io/ prefix that is not part of the contract' },
  EI_ERR_ANNOTATION_VALUE: { ...POD_PROBLEM, description: 'an annotation whose value is malformed (policy, scrape, sidecar, inject)' },
  EI_ERR_TEMPLATE_UNKNOWN: { ...POD_PROBLEM, description: 'inject names a template the registry does not have' },
  EI_ERR_PARAM_UNKNOWN: { ...POD_PROBLEM, description: 'a <template>.<param> annotation the template does not accept' },
  EI_ERR_PARAM_INVALID: { ...POD_PROBLEM, description: 'a <template>.<param> value that fails validation (port, quantity, image, target, ...)' },
  EI_ERR_PARAM_MISSING: { ...POD_PROBLEM, description: 'a parameter the template requires (for example a Secret with credentials) is not given' },
  EI_ERR_CLASH_CONTAINER: { ...POD_PROBLEM, description: 'the exporter container name is already used in the pod' },
  EI_ERR_CLASH_VOLUME: { ...POD_PROBLEM, description: 'a volume the exporter needs has the same name as a volume of the pod' },
  EI_ERR_CLASH_PORT: { ...POD_PROBLEM, description: 'a port the exporter binds, or its port name, is already used in the pod' },
  EI_ERR_CLASH_EXPORTER: { ...POD_PROBLEM, description: 'the pod already runs the same exporter image' },
  EI_ERR_POD_REQUIREMENT: { ...POD_PROBLEM, description: 'the template needs something from the pod spec that it does not have' },
  // A malformed AdmissionReview: an HTTP 4xx from the server; an input error in `review`.
  EI_ERR_REVIEW_INVALID: { exit: EXIT.INPUT, http: 400, description: 'the body is not an admission.k8s.io/v1 AdmissionReview with a request' },
  EI_ERR_REVIEW_OBJECT: { exit: EXIT.INPUT, http: 400, description: 'request.object is missing or is not a Pod' },
  EI_ERR_HTTP_CONTENT_TYPE: { exit: EXIT.INPUT, http: 415, description: 'the request content type is not application/json' },
  EI_ERR_HTTP_ROUTE: { exit: EXIT.INPUT, http: 404, description: 'a request to a method or path the webhook (or its health port) does not serve' },
  EI_ERR_HTTP_BODY: { exit: EXIT.INPUT, http: 400, description: 'the request body is empty, not JSON, or does not match its Content-Length' },
  EI_ERR_HTTP_BODY_TOO_LARGE: { exit: EXIT.INPUT, http: 413, description: 'the request body is over the size limit (--body-limit)' },
  // Loading things at the edges.
  EI_ERR_REGISTRY_INVALID: { exit: EXIT.INPUT, description: 'a template file or directory fails the template schema' },
  EI_ERR_CONFIG_INVALID: { exit: EXIT.USAGE, description: 'a flag or environment variable has an invalid value' },
  EI_ERR_TLS_INVALID: { exit: EXIT.INPUT, description: 'a certificate or key cannot be read, does not parse, or the pair does not match' },
  EI_ERR_INPUT_INVALID: { exit: EXIT.INPUT, description: 'a manifest or review file given to the CLI cannot be read or parsed' },
  EI_ERR_KUBE_API: { exit: EXIT.FAILED, description: 'a call to the Kubernetes API server failed' },
  EI_ERR_USAGE: { exit: EXIT.USAGE, description: 'a command line that does not fit the command' },
  EI_ERR_INTERNAL: { exit: EXIT.FAILED, http: 500, description: 'an unexpected internal error (a bug)' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const exitCodeOf = (code: ErrorCode): ExitCode => ERROR_CODES[code].exit;

/** The HTTP status for a code; 500 for a code that should never reach HTTP (a bug). */
export const httpStatusOf = (code: ErrorCode): number => (ERROR_CODES[code] as ErrorSpec).http ?? 500;

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

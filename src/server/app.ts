// The webhook's HTTP surface: POST <path> -> core admit() -> AdmissionReview answer. Builds the
// fastify instance and never listens (runtime.ts does; tests use inject()).
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { admit as coreAdmit } from '../core/admit.js';
import { isJsonObject } from '../core/json.js';
import type { AdmissionResponse, AdmissionReviewResponse, CoreSettings, Registry } from '../core/types.js';
import { httpStatusOf, isInjectorError, type ErrorCode } from '../errors.js';
import { AdmissionLog } from './admission-log.js';
import { DEFAULT_CONNECTION_LIMITS, serverConnectionOptions, type ConnectionLimits } from './connection-limits.js';
import type { Current } from './current.js';
import type { WebhookMetrics } from './metrics.js';
import { TurnBatch } from './turn-batch.js';

export interface AppOptions {
  /** Read once per request; runtime.ts swaps it when the templates directory changes. */
  readonly registry: Current<Registry>;
  readonly settings: CoreSettings;
  readonly path: string;
  readonly bodyLimit: number;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  /** TLS options; without them the instance speaks plain HTTP (for inject() and tests). */
  readonly https?: HttpsServerOptions;
  /** Timeouts and the connection cap of the HTTPS server (connection-limits.ts). */
  readonly connectionLimits?: ConnectionLimits;
  /** Seam for tests that need the core to fail unexpectedly. */
  readonly admit?: typeof coreAdmit;
}

export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
}

const MIB = 1024 * 1024;

/**
 * The request bodies a turn's batch of answers may hold, as text (parsed, a few times that): 19
 * typical pods or 90 small ones, so a turn's small and typical pods are one batch, while what it
 * keeps alive stays around a MiB, far within V8's young generation, and dies young
 * (turn-batch.ts). Large pods (~150 KB) are answered one or two at a time.
 */
const BATCH_BODY_BYTES = 256 * 1024;

/** On each request the server hands over: when it did (performance.now()). */
const RECEIVED_AT = Symbol('exporter-injector.receivedAt');
type Received = { [RECEIVED_AT]?: number };

/**
 * Every pod CREATE in scope reaches the webhook (an objectSelector cannot match annotations), so
 * most admissions are pods that never asked for an exporter. Their line is logged at debug: at
 * info it would be most of the log volume and a third of the skip path's cost, and
 * exporter_injector_admissions_total counts them by reason all the same.
 */
const QUIET_REASONS: ReadonlySet<string> = new Set(['not-a-pod', 'not-create', 'subresource', 'ignored-namespace', 'not-opted-in', 'mirror-pod']);

export function buildApp(options: AppOptions): FastifyInstance {
  const admit = options.admit ?? coreAdmit;
  const { metrics, settings, path, logger } = options;
  const admissionLog = new AdmissionLog(logger);
  const limits = options.connectionLimits ?? DEFAULT_CONNECTION_LIMITS;
  const limitText = options.bodyLimit % MIB === 0 ? `${options.bodyLimit / MIB} MiB` : `${options.bodyLimit} bytes`;

  // No logger for fastify: everything this port logs, the handlers below log themselves (the
  // admission line, the rejected and failed requests), and fastify's own request lines were off.
  // What fastify logs otherwise is misuse these handlers cannot commit (a reply sent twice, a
  // stream or serializer failing), while a logger costs it, on every request, a child-logger call
  // and its validation and two response listeners: 3-4.5% of the CPU per small admission
  // (docs/performance.md). The health port's instance keeps its logger.
  const app = Fastify({
    bodyLimit: options.bodyLimit,
    // While draining, requests already arriving on open connections are still answered (with
    // Connection: close) rather than refused with 503, which the API server would count as a failure.
    return503OnClosing: false,
    // The server is made here so that each request is stamped as Node hands it over, its headers
    // read: durations start there (fastify only times a request when it has a logger). inject()
    // does not go through the server: its requests take 0 ms.
    serverFactory: (route) => {
      const stamped = (request: IncomingMessage, response: ServerResponse): void => {
        (request as Received)[RECEIVED_AT] = performance.now();
        route(request, response);
      };
      const connection = serverConnectionOptions(limits);
      return options.https ? createHttpsServer({ ...connection, ...options.https }, stamped) : createHttpServer(connection, stamped);
    },
  }) as unknown as FastifyInstance;
  app.server.maxConnections = limits.maxConnections || Infinity;

  // Only JSON reaches the handler: without the default text/plain parser, fastify answers every
  // other content type (or a body without one) with 415 before reading the body.
  app.removeContentTypeParser('text/plain');

  const sendError = (reply: FastifyReply, status: number, code: ErrorCode, message: string): FastifyReply =>
    reply.code(status).type('application/json').send({ code, message } satisfies ErrorBody);

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const ms = elapsedMs(request);
    const client = clientError(error, limitText, request.headers['content-type']);
    if (client) {
      metrics.recordError(client.code, ms / 1000);
      logger.warn({ code: client.code, status: client.status, durationMs: round(ms) }, `rejected request: ${client.message}`);
      return sendError(reply, client.status, client.code, client.message);
    }
    const uid = uidOf(request.body);
    metrics.recordError('EI_ERR_INTERNAL', ms / 1000);
    logger.error({ uid, err: error, durationMs: round(ms) }, 'admission failed unexpectedly');
    return sendError(
      reply,
      httpStatusOf('EI_ERR_INTERNAL'),
      'EI_ERR_INTERNAL',
      `internal error while answering review ${uid ?? '(no uid)'}; the webhook's failurePolicy decides whether the pod is created (see the webhook's logs)`,
    );
  });

  app.setNotFoundHandler((request, reply) => {
    sendError(reply, httpStatusOf('EI_ERR_HTTP_ROUTE'), 'EI_ERR_HTTP_ROUTE', `no route ${request.method} ${request.url.split('?')[0]}; the webhook answers POST ${path}`);
  });

  /** Works out one review's answer and sends it; throws for a malformed review (a 400) or a bug (a 500). */
  const answer = (reply: FastifyReply): void => {
    const { request } = reply;
    const result = admit(request.body, options.registry.get(), settings);
    const { outcome } = result;
    const ms = elapsedMs(request);
    metrics.recordOutcome(outcome, ms / 1000);
    const level = QUIET_REASONS.has(outcome.reason) ? 'debug' : 'info';
    // Not even built when its level is off (debug, by default, for pods that did not opt in).
    if (admissionLog.enabled(level)) {
      admissionLog.write(level, {
        uid: result.request.uid,
        namespace: result.request.namespace,
        pod: result.request.name,
        decision: outcome.decision,
        reason: outcome.reason,
        templates: outcome.templates,
        problems: outcome.problems.map((p) => p.code),
        warnings: outcome.warnings.length,
        patchOperations: outcome.patchOperations,
        durationMs: round(ms),
        dryRun: result.request.dryRun,
      });
    }
    reply.type('application/json; charset=utf-8').send(reviewJson(result.review));
  };
  // The reviews whose bodies arrived in one turn of the event loop are answered together at its
  // end (turn-batch.ts). An error goes to the error handler above, as one thrown by a handler does.
  const answers = new TurnBatch<FastifyReply>(BATCH_BODY_BYTES, answer, (reply, error) => {
    if (!reply.sent) reply.send(error instanceof Error ? error : new Error(String(error)));
  });

  app.post(path, (request, reply) => {
    if (request.body === undefined) {
      throw Object.assign(new Error('empty body'), { code: 'FST_ERR_CTP_EMPTY_JSON_BODY', statusCode: 400 });
    }
    // A body sent without a Content-Length (chunked) counts as a whole batch: it waits alone.
    answers.add(reply, Number(request.headers['content-length']) || BATCH_BODY_BYTES);
  });

  return app;
}

/** The 4xx answer for an error fastify or the core raised about the request, or undefined for a bug. */
function clientError(error: FastifyError, limitText: string, contentType: string | undefined): { status: number; code: ErrorCode; message: string } | undefined {
  if (isInjectorError(error)) {
    return error.code === 'EI_ERR_REVIEW_INVALID' || error.code === 'EI_ERR_REVIEW_OBJECT'
      ? { status: httpStatusOf(error.code), code: error.code, message: error.message }
      : undefined;
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: httpStatusOf('EI_ERR_HTTP_BODY_TOO_LARGE'),
        code: 'EI_ERR_HTTP_BODY_TOO_LARGE',
        message: `the request body is over the ${limitText} limit (--body-limit); an AdmissionReview from the API server is never larger`,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: httpStatusOf('EI_ERR_HTTP_CONTENT_TYPE'),
        code: 'EI_ERR_HTTP_CONTENT_TYPE',
        message: `content type ${contentType ?? '(none)'} is not supported; send application/json (an admission.k8s.io/v1 AdmissionReview)`,
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: httpStatusOf('EI_ERR_HTTP_BODY'), code: 'EI_ERR_HTTP_BODY', message: 'the request body is empty; send an admission.k8s.io/v1 AdmissionReview as JSON' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: httpStatusOf('EI_ERR_HTTP_BODY'), code: 'EI_ERR_HTTP_BODY', message: 'the request body is not valid JSON (or holds a __proto__ or constructor.prototype key); send an admission.k8s.io/v1 AdmissionReview as JSON' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: httpStatusOf('EI_ERR_HTTP_BODY'), code: 'EI_ERR_HTTP_BODY', message: 'the request body is shorter or longer than its Content-Length header' };
  }
  // secure-json-parse refuses __proto__/constructor keys with a SyntaxError that fastify tags 400.
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return { status: error.statusCode, code: 'EI_ERR_HTTP_BODY', message: `the request was refused: ${error.message}` };
  }
  return undefined;
}

/**
 * The answer as JSON text, written field by field. JSON.stringify of the review, which is a new
 * object for every request, cost more than twice as much (docs/performance.md). The patch is
 * base64, whose alphabet JSON never escapes, so it is copied in as it is (it is most of the answer).
 */
export function reviewJson(review: AdmissionReviewResponse): string {
  const { uid, allowed, patchType, patch, warnings, status } = review.response;
  let text = `{"apiVersion":"${review.apiVersion}","kind":"${review.kind}","response":{"uid":${JSON.stringify(uid)},"allowed":${allowed}`;
  if (patchType !== undefined) text += `,"patchType":"${patchType}"`;
  if (patch !== undefined) text += `,"patch":"${patch}"`;
  if (warnings !== undefined) text += `,"warnings":${JSON.stringify(warnings)}`;
  if (status !== undefined) text += `,"status":${JSON.stringify(status)}`;
  return `${text}}}`;
}

/** The fields reviewJson writes: a field added to AdmissionResponse and not written there fails to compile. */
type WrittenField = 'uid' | 'allowed' | 'patchType' | 'patch' | 'warnings' | 'status';
const everyResponseFieldWritten: [Exclude<keyof AdmissionResponse, WrittenField>] extends [never] ? true : never = true;

/** Milliseconds since the server handed the request over; 0 for inject()'s, which it never saw. */
function elapsedMs(request: FastifyRequest): number {
  const receivedAt = (request.raw as Received)[RECEIVED_AT];
  return receivedAt === undefined ? 0 : performance.now() - receivedAt;
}

function uidOf(body: unknown): string | undefined {
  const request = isJsonObject(body) ? body.request : undefined;
  const uid = isJsonObject(request) ? request.uid : undefined;
  return typeof uid === 'string' ? uid : undefined;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

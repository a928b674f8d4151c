// The plain-HTTP side: /healthz (the process answers), /readyz (it can serve admissions right now)
// and /metrics. Kept off the TLS port so probes and scrapes need no certificate.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { httpStatusOf } from '../errors.js';
import type { WebhookMetrics } from './metrics.js';

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready, one sentence each; empty when ready. */
  readonly reasons: readonly string[];
}

export interface HealthAppOptions {
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  readonly readiness: () => Readiness;
}

export function buildHealthApp(options: HealthAppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    // Probes arrive every few seconds; logging each would drown the admission lines.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: false,
  }) as unknown as FastifyInstance;

  // The same error shape as the webhook port's, so one client-side handling fits both.
  app.setNotFoundHandler((request, reply) => {
    void reply.code(httpStatusOf('EI_ERR_HTTP_ROUTE')).send({
      code: 'EI_ERR_HTTP_ROUTE',
      message: `no route ${request.method} ${request.url.split('?')[0]}; the health port serves GET /healthz, /readyz and /metrics`,
    });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const readiness = options.readiness();
    return reply.code(readiness.ready ? 200 : 503).send({ ready: readiness.ready, reasons: readiness.reasons });
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await options.metrics.registry.metrics();
    return reply.type(options.metrics.registry.contentType).send(text);
  });

  return app;
}

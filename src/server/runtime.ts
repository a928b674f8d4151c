// The running webhook: loads the certificate and the registry, listens on both ports, keeps both
// up to date from disk, reports readiness, and drains on shutdown within a bounded time.
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { ServeConfig } from '../config/serve-config.js';
import type { CoreSettings, SidecarMode } from '../core/types.js';
import { buildApp } from './app.js';
import { buildHealthApp, type Readiness } from './health-app.js';
import { listenOn } from './listen.js';
import { createMetrics, type WebhookMetrics } from './metrics.js';
import { ServingCertificate } from './serving-certificate.js';
import { TemplateRegistry } from './template-registry.js';

export interface RuntimeOptions {
  readonly config: ServeConfig;
  readonly logger: Logger;
  /** Resolved already: `auto` was turned into native/classic by asking the cluster. */
  readonly sidecarMode: SidecarMode;
  readonly metrics?: WebhookMetrics;
}

export interface RunningWebhook {
  readonly httpsPort: number;
  readonly healthPort: number;
  readonly metrics: WebhookMetrics;
  readonly certificate: ServingCertificate;
  readonly templates: TemplateRegistry;
  readiness(): Readiness;
  /**
   * Readiness goes false, the HTTPS port stops accepting connections, requests in flight finish
   * (answered with Connection: close), then the health port closes. Connections still busy after
   * the drain timeout are cut. Resolves with whether that happened; calling again returns the same.
   */
  shutdown(): Promise<{ forced: boolean }>;
}

export async function startWebhook(options: RuntimeOptions): Promise<RunningWebhook> {
  const { config, logger } = options;
  const metrics = options.metrics ?? createMetrics();
  const settings: CoreSettings = Object.freeze({
    ignoredNamespaces: config.ignoredNamespaces,
    defaultSidecarMode: options.sidecarMode,
    runAsUser: config.runAsUser,
  });

  // Both loads fail start-up with a coded error: serving without them would answer wrongly.
  const certificate = await ServingCertificate.load(config.tlsCert, config.tlsKey, logger, metrics, config.cipherSuites);
  const templates = await TemplateRegistry.load(config.templatesDir, logger, metrics);

  let listening = false;
  let draining: Promise<{ forced: boolean }> | undefined;

  const readiness = (): Readiness => {
    const reasons: string[] = [];
    if (!listening) reasons.push(`the webhook port ${config.port} is not listening yet`);
    if (certificate.expired()) reasons.push(`the serving certificate ${config.tlsCert} expired at ${certificate.pair.notAfter.toISOString()}`);
    if (draining) reasons.push('shutting down: finishing requests in flight');
    return { ready: reasons.length === 0, reasons };
  };

  const app = buildApp({
    registry: templates.current,
    settings,
    path: config.path,
    bodyLimit: config.bodyLimitBytes,
    logger,
    metrics,
    https: certificate.tlsOptions(),
    connectionLimits: config.connectionLimits,
  });
  const health = buildHealthApp({ logger, metrics, readiness });

  let httpsPort: number;
  let healthPort: number;
  try {
    healthPort = await listenOn(health, config.healthPort, config.host, '--health-port');
    httpsPort = await listenOn(app, config.port, config.host, '--port');
  } catch (e) {
    await Promise.allSettled([app.close(), health.close()]);
    throw e;
  }
  listening = true;

  const intervalMs = config.watchIntervalSeconds * 1000;
  certificate.watch(app.server as unknown as TlsServer, intervalMs);
  templates.watch(intervalMs);

  const shutdown = (): Promise<{ forced: boolean }> => {
    draining ??= (async () => {
      logger.info(
        { shutdownDelaySeconds: config.shutdownDelaySeconds, drainTimeoutSeconds: config.drainTimeoutSeconds },
        'shutting down: readiness false, no new connections, finishing requests in flight',
      );
      // The pod leaves the Service's endpoints at about the time SIGTERM arrives, but the API
      // server may still pick it for a while: keep serving (unready) until that has spread.
      if (config.shutdownDelaySeconds > 0) await new Promise((r) => setTimeout(r, config.shutdownDelaySeconds * 1000));
      certificate.close();
      templates.close();
      let forced = false;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          forced = true;
          logger.warn({ drainTimeoutSeconds: config.drainTimeoutSeconds }, 'drain timeout reached; closing the connections still open');
          app.server.closeAllConnections();
          resolve();
        }, config.drainTimeoutSeconds * 1000);
      });
      // fastify's close stops listening, closes idle keep-alive connections and waits for the rest;
      // past the deadline the process may exit with sockets still mid-handshake, which is the point.
      await Promise.race([app.close(), deadline]);
      clearTimeout(timer);
      await health.close();
      logger.info({ forced }, 'shut down');
      return { forced };
    })();
    return draining;
  };

  return {
    httpsPort,
    healthPort,
    metrics,
    certificate,
    templates,
    readiness,
    shutdown,
  };
}

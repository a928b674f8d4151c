// How long the webhook's HTTPS port waits for a client at each stage, and how many connections it
// holds. The API server sends a whole review at once and gives up after the webhook's
// timeoutSeconds (5 s by default, 30 s at most), so a client still handshaking or still sending
// after that is not an API server worth waiting for: it only holds a socket and memory.
// docs/reliability.md explains each value.
import type { ServerOptions as HttpsServerOptions } from 'node:https';

export interface ConnectionLimits {
  /** TLS handshake must finish within this (Node's default is 120 s). */
  readonly handshakeTimeoutSeconds: number;
  /** Request headers must have arrived within this from the connection's or request's start. */
  readonly headersTimeoutSeconds: number;
  /** The whole request (headers and body) must have arrived within this. */
  readonly requestTimeoutSeconds: number;
  /**
   * An idle keep-alive connection is closed after this. Longer than the API server's idle timeout
   * (Go's 90 s), so the client closes first and never sends a review on a socket we are closing.
   */
  readonly keepAliveTimeoutSeconds: number;
  /** Connections beyond this are closed as they are accepted (0: no limit). */
  readonly maxConnections: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = Object.freeze({
  handshakeTimeoutSeconds: 5,
  headersTimeoutSeconds: 5,
  requestTimeoutSeconds: 10,
  keepAliveTimeoutSeconds: 95,
  maxConnections: 4096,
});

/** Node checks expired headers and requests on this period; a fraction of the shortest timeout. */
function checkingIntervalMs(limits: ConnectionLimits): number {
  return Math.max(50, Math.min(1000, (Math.min(limits.headersTimeoutSeconds, limits.requestTimeoutSeconds) * 1000) / 5));
}

/** Options for https.createServer (through fastify's `https`), merged with the TLS options. */
export function httpsConnectionOptions(limits: ConnectionLimits): HttpsServerOptions {
  return {
    handshakeTimeout: limits.handshakeTimeoutSeconds * 1000,
    headersTimeout: limits.headersTimeoutSeconds * 1000,
    requestTimeout: limits.requestTimeoutSeconds * 1000,
    keepAliveTimeout: limits.keepAliveTimeoutSeconds * 1000,
    connectionsCheckingInterval: checkingIntervalMs(limits),
  };
}

/** fastify sets these on the server after creating it, overriding what https.createServer got. */
export function fastifyConnectionOptions(limits: ConnectionLimits): { keepAliveTimeout: number; requestTimeout: number } {
  return { keepAliveTimeout: limits.keepAliveTimeoutSeconds * 1000, requestTimeout: limits.requestTimeoutSeconds * 1000 };
}

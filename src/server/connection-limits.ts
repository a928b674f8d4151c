// How long the webhook's HTTPS port waits for a client at each stage, and how many connections it
// holds. The API server sends a whole review at once and gives up after the webhook's
// timeoutSeconds (5 s by default here, 30 s at most) and a TLS handshake after 10 s, so a client
// still handshaking or sending after that is not an API server worth waiting for: it only holds a
// socket and memory. No timeout is shorter than the API server's own for the same stage: in a
// storm of reconnections, handshakes queue for CPU, and cutting one the client still waits for
// would turn a slow admission into a failed one. docs/reliability.md explains each value.
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
  // The API server's TLSHandshakeTimeout (client-go's transport default).
  handshakeTimeoutSeconds: 10,
  // Headers follow the handshake at once; 10 s is the same allowance as the handshake.
  headersTimeoutSeconds: 10,
  // The longest timeoutSeconds a webhook configuration may have.
  requestTimeoutSeconds: 30,
  // Above Go's IdleConnTimeout (90 s) in the API server's transport.
  keepAliveTimeoutSeconds: 95,
  // ~100 KiB each: 4096 connections stay within a few hundred MiB.
  maxConnections: 4096,
});

/** Node checks expired headers and requests on this period; a fraction of the shortest timeout. */
function checkingIntervalMs(limits: ConnectionLimits): number {
  return Math.max(50, Math.min(1000, (Math.min(limits.headersTimeoutSeconds, limits.requestTimeoutSeconds) * 1000) / 5));
}

/** Options for https.createServer (merged with the TLS options); http.createServer ignores the handshake timeout. */
export function serverConnectionOptions(limits: ConnectionLimits): HttpsServerOptions {
  return {
    handshakeTimeout: limits.handshakeTimeoutSeconds * 1000,
    headersTimeout: limits.headersTimeoutSeconds * 1000,
    requestTimeout: limits.requestTimeoutSeconds * 1000,
    keepAliveTimeout: limits.keepAliveTimeoutSeconds * 1000,
    connectionsCheckingInterval: checkingIntervalMs(limits),
  };
}

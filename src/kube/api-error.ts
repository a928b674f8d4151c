// kube edge: turns client-node failures into one-line EI_ERR_KUBE_API errors (HTTP status + server message).
import { ApiException } from '@kubernetes/client-node';
import { InjectorError } from '../errors.js';

/** The HTTP status of a failed API call, or undefined when the server was never reached. */
export function httpStatusOf(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

/** The `reason` of the API server's Status object (Conflict, AlreadyExists, NotFound, ...). */
export function statusReasonOf(e: unknown): string | undefined {
  const status = statusBodyOf(e);
  return typeof status?.reason === 'string' ? status.reason : undefined;
}

/** `what` says the operation, e.g. `update mutatingwebhookconfigurations/exporter-injector at https://...`. */
export function toKubeError(e: unknown, what: string): InjectorError {
  if (e instanceof InjectorError) return e;
  if (e instanceof ApiException) {
    const status = statusBodyOf(e);
    const message = typeof status?.message === 'string' ? status.message : bodyText(e.body) || httpStatusText(e.code);
    return new InjectorError('EI_ERR_KUBE_API', `cannot ${what}: HTTP ${e.code}: ${message}`, { cause: e });
  }
  // Connection refused, DNS, TLS, timeout: the server's answer never arrived.
  const message = e instanceof Error ? (causeCode(e) ?? e.message) : String(e);
  return new InjectorError('EI_ERR_KUBE_API', `cannot ${what}: ${message}`, { cause: e });
}

function statusBodyOf(e: unknown): Record<string, unknown> | undefined {
  if (!(e instanceof ApiException)) return undefined;
  const body: unknown = e.body;
  if (body !== null && typeof body === 'object') return body as Record<string, unknown>;
  if (typeof body !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function bodyText(body: unknown): string {
  return typeof body === 'string' ? body.trim().slice(0, 300) : '';
}

function httpStatusText(code: number): string {
  if (code === 401) return 'Unauthorized (the credentials were rejected)';
  if (code === 403) return 'Forbidden';
  return 'no message';
}

function causeCode(e: Error): string | undefined {
  const cause = (e as { cause?: unknown }).cause;
  const code = (e as { code?: unknown }).code ?? (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? `${e.message} (${code})` : undefined;
}

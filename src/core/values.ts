// Validators for values that come from annotations. Each returns the value to use, or a sentence
// saying what would be valid. Values only ever land inside parsed structures as single strings or
// numbers; these checks keep them meaningful (and make smuggling attempts fail loudly).
import type { TargetFormat } from './types.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; expected: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = <T>(expected: string): Checked<T> => ({ ok: false, expected });

/** No whitespace, quotes, control characters or braces: what a flag value or URI never needs. */
const PLAIN = /^[^\s"'`{}\\\u0000-\u001f\u007f]+$/;

export function checkPort(raw: string): Checked<number> {
  if (!/^[0-9]{1,5}$/.test(raw)) return bad('a port number from 1 to 65535');
  const port = Number(raw);
  return port >= 1 && port <= 65535 ? ok(port) : bad('a port number from 1 to 65535');
}

export function checkCpu(raw: string): Checked<string> {
  return /^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$/.test(raw) && !/^0+(\.0+)?m?$/.test(raw)
    ? ok(raw)
    : bad('a CPU quantity greater than zero such as 50m, 250m or 1');
}

export function checkMemory(raw: string): Checked<string> {
  return /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/.test(raw) && !/^0+(\.0+)?[A-Za-z]*$/.test(raw)
    ? ok(raw)
    : bad('a memory quantity greater than zero such as 64Mi, 128Mi or 1Gi');
}

// registry[:port]/path[:tag][@sha256:digest], as the container runtime accepts it.
const IMAGE =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export function checkImage(raw: string): Checked<string> {
  return raw.length <= 255 && IMAGE.test(raw) ? ok(raw) : bad('an image reference such as registry.example.com/team/redis_exporter:v1.88.0');
}

/** The repository part of an image reference (no tag, no digest), to recognise the same exporter. */
export function imageRepository(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const repo = colon > slash ? noDigest.slice(0, colon) : noDigest;
  // docker.io/library/x, docker.io/x and x are the same repository.
  return repo.replace(/^(docker\.io|index\.docker\.io)\//, '').replace(/^library\//, '');
}

export function checkTarget(raw: string, format: TargetFormat): Checked<string> {
  if (raw.length > 2048 || !PLAIN.test(raw)) return bad(targetExpectation(format));
  switch (format) {
    case 'url':
      return /^[a-z][a-z0-9+.-]*:\/\/[^/]*[^\s]*$/.test(raw) ? ok(raw) : bad(targetExpectation(format));
    case 'hostport':
      return /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):[0-9]{1,5}$/.test(raw) || /^unix:\/\/\/\S+$/.test(raw)
        ? ok(raw)
        : bad(targetExpectation(format));
    case 'dsn':
      return ok(raw);
    case 'none':
      return bad(targetExpectation(format));
  }
}

function targetExpectation(format: TargetFormat): string {
  switch (format) {
    case 'url':
      return 'a URL without spaces or quotes, such as redis://localhost:6379';
    case 'hostport':
      return 'host:port (such as localhost:11211) or unix:///path/to/socket';
    case 'dsn':
      return 'a connection string without spaces or quotes, such as localhost:5432/postgres?sslmode=disable';
    case 'none':
      return 'nothing: this exporter is pushed to and takes no target';
  }
}

export function checkPath(raw: string): Checked<string> {
  return /^\/[A-Za-z0-9._~\/-]*$/.test(raw) && raw.length <= 256 ? ok(raw) : bad('an absolute URL path such as /metrics');
}

/** Kubernetes object name (DNS-1123 subdomain): Secrets and ConfigMaps. */
export function checkObjectName(raw: string): Checked<string> {
  return raw.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(raw)
    ? ok(raw)
    : bad('a Kubernetes object name: lower-case letters, digits, "-" and "."');
}

/** Volume names are DNS-1123 labels. */
export function checkVolumeName(raw: string): Checked<string> {
  return raw.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(raw)
    ? ok(raw)
    : bad('the name of a volume of the pod (a DNS label)');
}

/** Extra arguments: space-separated flags, each `-f`, `--flag` or `--flag=value`. */
export function checkArgs(raw: string): Checked<string[]> {
  const tokens = raw.trim().split(/ +/).filter((t) => t !== '');
  const flag = /^--?[A-Za-z0-9][A-Za-z0-9._-]*(=[^\s"'`{}\\\u0000-\u001f\u007f]*)?$/;
  if (tokens.length === 0 || raw.includes('\n') || raw.includes('\t')) return bad('space-separated flags such as "--include-system-metrics --redis.only-metrics=false"');
  const wrong = tokens.find((t) => !flag.test(t));
  return wrong === undefined
    ? ok(tokens)
    : bad(`space-separated flags such as "--include-system-metrics"; ${JSON.stringify(wrong)} is not a flag`);
}

export function checkPattern(raw: string, pattern: RegExp | undefined): Checked<string> {
  if (pattern) return pattern.test(raw) ? ok(raw) : bad(`a value matching ${pattern.source}`);
  return raw.length <= 1024 && PLAIN.test(raw) ? ok(raw) : bad('a single value without spaces, quotes or braces');
}

/** The kubelet expands $(VAR) in args and env values; `$$` keeps a literal `$` (what the user wrote is what the exporter gets). */
export function escapeDollar(value: string): string {
  return value.replaceAll('$', '$$$$');
}

/** Closest known name, to suggest for a typo. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(1, Math.min(2, Math.floor(name.length / 2))) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

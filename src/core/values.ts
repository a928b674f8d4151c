// Validators for values that come from annotations. Each returns the value to use, or a sentence
// saying what would be valid. Values only ever land inside parsed structures as single strings or
// numbers; these checks keep them meaningful (and make smuggling attempts fail loudly).
import type { TargetFormat } from './types.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; expected: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = <T>(expected: string): Checked<T> => ({ ok: false, expected });

/** No whitespace, quotes, control characters or braces: what a flag value never needs. */
const PLAIN = /^[^\s"'`{}\\\u0000-\u001f\u007f]+$/;

export function checkPort(raw: string): Checked<number> {
  if (!/^[0-9]{1,5}$/.test(raw)) return bad('a port number from 1 to 65535');
  const port = Number(raw);
  return port >= 1 && port <= 65535 ? ok(port) : bad('a port number from 1 to 65535');
}

export function checkCpu(raw: string): Checked<string> {
  return (parseQuantity(raw) ?? 0) > 0 ? ok(raw) : bad('a CPU quantity greater than zero such as 50m, 250m or 1');
}

export function checkMemory(raw: string): Checked<string> {
  // Below 1Mi no exporter starts; a lower value is a unit mistake (64m is 0.064 bytes).
  return (parseQuantity(raw) ?? 0) >= 2 ** 20 ? ok(raw) : bad('a memory quantity of at least 1Mi such as 64Mi, 128Mi or 1Gi');
}

export function checkImage(raw: string): Checked<string> {
  const why = imageProblem(raw);
  return why === undefined ? ok(raw) : bad(`an image reference pinned by tag or digest, such as registry.example.com/team/redis_exporter:v1.88.0 (this one ${why})`);
}

/** The repository part of an image reference (no tag, no digest), to recognise the same exporter. */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at === -1 ? image : image.slice(0, at);
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const repo = colon > slash ? noDigest.slice(0, colon) : noDigest;
  // docker.io/library/x, docker.io/x and x are the same repository.
  const hub = DOCKER_HUB.find((prefix) => repo.startsWith(prefix));
  const path = hub ? repo.slice(hub.length) : repo;
  return path.startsWith('library/') ? path.slice('library/'.length) : path;
}
const DOCKER_HUB = ['docker.io/', 'index.docker.io/'];

export function checkTarget(raw: string, format: TargetFormat): Checked<string> {
  const why = targetProblem(format, raw);
  return why === undefined ? ok(raw) : bad(`${targetExpectation(format)} (this one ${why})`);
}

function targetExpectation(format: TargetFormat): string {
  switch (format) {
    case 'url':
      return 'a URL such as redis://localhost:6379';
    case 'hostport':
      return 'host:port (such as localhost:11211) or unix:///path/to/socket';
    case 'dsn':
      return 'a connection string without spaces, such as localhost:5432/postgres?sslmode=disable';
    case 'none':
      return 'nothing: this template takes no target';
  }
}

/**
 * The one URL-path rule (metrics paths, the webhook's path): absolute, unreserved characters only, so
 * it needs no escaping in a URL, an annotation, a flag or a Prometheus relabeling.
 */
export function isUrlPath(s: string): boolean {
  return s.length <= 256 && /^\/[A-Za-z0-9._~\/-]*$/.test(s);
}

export function checkPath(raw: string): Checked<string> {
  return isUrlPath(raw) ? ok(raw) : bad('an absolute URL path such as /metrics');
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A container port name is at most this long (IANA_SVC_NAME). */
export const MAX_PORT_NAME = 15;

/** IANA_SVC_NAME as Kubernetes checks a container port name. */
export function isPortName(s: string): boolean {
  return s.length >= 1 && s.length <= MAX_PORT_NAME && DNS_LABEL.test(s) && !s.includes('--') && /[a-z]/.test(s);
}

/** DNS-1035 label: Service names (a DNS-1123 label that starts with a letter). */
export function isDns1035Label(s: string): boolean {
  return isDnsLabel(s) && /^[a-z]/.test(s);
}

/** DNS-1123 label: namespaces, volumes, container names (at most 63 characters unless `max` says less). */
export function isDnsLabel(s: string, max = 63): boolean {
  return s.length <= max && DNS_LABEL.test(s);
}

/** DNS-1123 subdomain: most object names (Secrets, ConfigMaps, webhook configurations). */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && s.split('.').every((label) => DNS_LABEL.test(label));
}

/** Kubernetes object name (DNS-1123 subdomain): Secrets and ConfigMaps. */
export function checkObjectName(raw: string): Checked<string> {
  return isDnsSubdomain(raw)
    ? ok(raw)
    : bad('a Kubernetes object name: lower-case letters, digits, "-" and "."');
}

/** Volume names are DNS-1123 labels. */
export function checkVolumeName(raw: string): Checked<string> {
  return isDnsLabel(raw)
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

/** A declared param's value; its pattern is compiled only when a rendering is not cached yet. */
export function checkPattern(raw: string, pattern: string | undefined): Checked<string> {
  if (pattern !== undefined) return new RegExp(`^(?:${pattern})$`).test(raw) ? ok(raw) : bad(`a value matching ${pattern}`);
  return raw.length <= 1024 && PLAIN.test(raw) ? ok(raw) : bad('a single value without spaces, quotes or braces');
}

/** The kubelet expands $(VAR) in args and env values; `$$` keeps a literal `$` (what the user wrote is what the exporter gets). */
export function escapeDollar(value: string): string {
  return value.replaceAll('$', () => '$$');
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

// A Docker image reference: [registry[:port]/]path[:tag][@digest], following the grammar of
// distribution/reference (lower-case path components, tag of 1..128 word characters).
const IMAGE_REF = new RegExp(
  '^' +
    '(?:(?<registry>(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?)/)?' +
    '(?<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)' +
    '(?::(?<tag>[\\w][\\w.-]{0,127}))?' +
    '(?:@(?<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?' +
    '$',
);

/** Why `ref` is not a usable, pinned image reference, or undefined when it is. */
export function imageProblem(ref: string): string | undefined {
  if (ref.length > 255) return 'must be at most 255 characters';
  const m = IMAGE_REF.exec(ref);
  if (!m?.groups) return 'is not a valid image reference (expected [registry/]repository:tag or ...@sha256:digest)';
  const { registry, tag, digest } = m.groups;
  // Without a dot, colon or "localhost" the first component is a path, not a registry.
  if (registry !== undefined && !/[.:]/.test(registry) && registry !== 'localhost' && registry !== registry.toLowerCase()) {
    return 'is not a valid image reference: repository names must be lower case';
  }
  if (tag === undefined && digest === undefined) return 'must be pinned with a tag or digest (for example :v1.2.3)';
  if (tag === 'latest' && digest === undefined) return 'must be pinned: the tag "latest" moves';
  return undefined;
}

const QUANTITY = /^(?<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};

/** The value of a Kubernetes resource quantity (`100m`, `64Mi`, `1e3`), or undefined if malformed. */
export function parseQuantity(q: string): number | undefined {
  const m = QUANTITY.exec(q);
  if (!m?.groups) return undefined;
  const num = Number(m.groups.num);
  const suffix = m.groups.suffix;
  if (suffix === undefined) return num;
  if (/^[eE]/.test(suffix)) return num * 10 ** Number(suffix.slice(1));
  return num * (SUFFIX[suffix] ?? NaN);
}

/** Why `value` is not a valid target of the given format, or undefined when it is. */
export function targetProblem(format: TargetFormat, value: string): string | undefined {
  if (/[\s\u0000-\u001f\u007f]/.test(value)) return 'must not contain whitespace or control characters';
  if (value.length > 2048) return 'must be at most 2048 characters';
  switch (format) {
    case 'none':
      return value === '' ? undefined : 'must be empty: this exporter takes no target';
    case 'url': {
      // "localhost:8080" parses as a URL with scheme "localhost:"; demanding "scheme://" catches it.
      const why = 'must be an absolute URL such as http://localhost:8080/status';
      if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) return why;
      // Exporters read a comma as a separator: php-fpm_exporter's --phpfpm.scrape-uri and
      // mongodb_exporter's --mongodb.uri are comma lists, the NATS exporter takes "<id>,<url>".
      // A sidecar watches one instance, so a comma is never what the user meant.
      if (value.includes(',')) return 'must not contain ",": exporters read it as a list separator, and a sidecar watches one instance';
      try {
        new URL(value);
      } catch {
        return why;
      }
      return undefined;
    }
    case 'hostport': {
      if (/^unix:\/\/\/\S+$/.test(value)) return undefined;
      const m = /^(?<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(?<port>\d{1,5})$/.exec(value);
      const port = Number(m?.groups?.port);
      if (!m || port < 1 || port > 65535) return 'must be host:port with a port 1-65535, such as localhost:3306, or unix:///path/to/socket';
      return undefined;
    }
    case 'dsn':
      return value === '' ? 'must not be empty' : undefined;
  }
}

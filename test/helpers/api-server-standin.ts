// A stand-in for the Kubernetes API server calling a mutating webhook: it trusts only the CA it
// is given (the caBundle), connects by IP but verifies the name <service>.<namespace>.svc as the
// API server does through the Service, posts to <path>?timeout=10s, checks the answer the way
// the API server's dispatcher does, applies the JSON patch, validates the resulting Pod, and can
// re-send the mutated Pod the way reinvocation does.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:https';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1/Pod';

export const SERVICE_NAME = 'exporter-injector.exporter-injector.svc';

export interface StandInOptions {
  readonly port: number;
  readonly caCert: string;
  readonly host?: string;
  readonly path?: string;
  readonly servername?: string;
  /** Sockets kept open between reviews, as the API server's HTTP client keeps them. */
  readonly maxSockets?: number;
}

export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** SHA-256 fingerprint of the certificate the server presented. */
  readonly fingerprint: string;
}

export interface ReviewOptions {
  readonly namespace?: string;
  readonly operation?: string;
  readonly dryRun?: boolean;
  readonly uid?: string;
  readonly kind?: { group: string; version: string; kind: string };
}

export interface CheckedAnswer {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patch: Operation[] | undefined;
  readonly warnings: readonly string[];
  readonly status: { code?: number; message?: string } | undefined;
  /** The Pod after the patch (the original when there was none). */
  readonly pod: Record<string, unknown>;
  readonly raw: RawAnswer;
}

/** An AdmissionReview as the API server sends it for a Pod (CREATE unless told otherwise). */
export function podReview(pod: unknown, options: ReviewOptions = {}): { uid: string; review: unknown } {
  const uid = options.uid ?? randomUUID();
  const namespace = options.namespace ?? 'default';
  const kind = options.kind ?? { group: '', version: 'v1', kind: 'Pod' };
  return {
    uid,
    review: {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind,
        resource: { group: kind.group, version: kind.version, resource: `${kind.kind.toLowerCase()}s` },
        requestKind: kind,
        requestResource: { group: kind.group, version: kind.version, resource: `${kind.kind.toLowerCase()}s` },
        namespace,
        operation: options.operation ?? 'CREATE',
        userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
        object: pod,
        oldObject: null,
        dryRun: options.dryRun ?? false,
        options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
      },
    },
  };
}

export class ApiServerStandIn {
  readonly agent: Agent;
  readonly #options: Required<Omit<StandInOptions, 'maxSockets'>>;

  constructor(options: StandInOptions) {
    this.#options = {
      host: '127.0.0.1',
      path: '/mutate',
      servername: SERVICE_NAME,
      ...options,
    };
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 4, ca: options.caCert, servername: this.#options.servername });
  }

  /** One POST, nothing checked: for bad input and for looking at the raw answer. */
  send(body: string | Buffer, headers: Record<string, string> = { 'Content-Type': 'application/json' }, agent: Agent | false = this.agent): Promise<RawAnswer> {
    const { host, port, path, servername, caCert } = this.#options;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host,
          port,
          method: 'POST',
          path: `${path}?timeout=10s`,
          servername,
          ca: caCert,
          agent,
          headers: { Accept: 'application/json, */*', 'Content-Length': String(Buffer.byteLength(body)), ...headers },
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate?.()?.fingerprint256 ?? '';
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), fingerprint }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('the webhook did not answer within 10s (the API server would give up)')));
      req.on('error', reject);
      req.end(body);
    });
  }

  /**
   * Sends the review and checks the answer as the API server does: HTTP 200, an
   * admission.k8s.io/v1 AdmissionReview, the uid echoed, patch and patchType together
   * (JSONPatch only), the patch base64 of a JSON array that applies to the Pod, and the
   * patched object a valid Pod.
   */
  async review(pod: Record<string, unknown>, options: ReviewOptions = {}): Promise<CheckedAnswer> {
    const { uid, review } = podReview(pod, options);
    const raw = await this.send(JSON.stringify(review));
    assert.equal(raw.status, 200, `the API server accepts only HTTP 200 from a webhook; got ${raw.status}: ${raw.body}`);
    const answer = JSON.parse(raw.body) as {
      apiVersion?: unknown;
      kind?: unknown;
      response?: { uid?: unknown; allowed?: unknown; patch?: unknown; patchType?: unknown; warnings?: unknown; status?: { code?: number; message?: string } };
    };
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1', 'expected webhook response of admission.k8s.io/v1');
    assert.equal(answer.kind, 'AdmissionReview', 'expected webhook response of kind AdmissionReview');
    const response = answer.response;
    assert.ok(response && typeof response === 'object', 'webhook response was absent');
    assert.equal(response.uid, uid, 'expected response.uid to echo request.uid');
    assert.equal(typeof response.allowed, 'boolean', 'response.allowed must be a boolean');
    const hasPatch = response.patch !== undefined && response.patch !== '';
    const hasPatchType = response.patchType !== undefined && response.patchType !== '';
    assert.equal(hasPatch, hasPatchType, 'webhook returned response.patch without response.patchType, or the other way round');
    if (response.warnings !== undefined) {
      assert.ok(Array.isArray(response.warnings) && response.warnings.every((w) => typeof w === 'string'), 'warnings must be strings');
    }

    let patch: Operation[] | undefined;
    let result: Record<string, unknown> = structuredClone(pod);
    if (hasPatch) {
      assert.equal(response.patchType, 'JSONPatch', 'the API server supports only patchType JSONPatch');
      assert.equal(typeof response.patch, 'string', 'response.patch must be base64 text');
      assert.match(response.patch as string, /^[A-Za-z0-9+/]*={0,2}$/, 'response.patch must be standard base64');
      const decoded: unknown = JSON.parse(Buffer.from(response.patch as string, 'base64').toString('utf8'));
      assert.ok(Array.isArray(decoded), 'the decoded patch must be a JSON array of operations');
      patch = decoded as Operation[];
      assert.equal(response.allowed, true, 'a patch comes only with allowed: true');
      result = jsonPatch.applyPatch(result, patch, true, false).newDocument;
      new PodModel(structuredClone(result) as never).validate();
    }
    return {
      uid,
      allowed: response.allowed as boolean,
      patch,
      warnings: (response.warnings as string[] | undefined) ?? [],
      status: response.status,
      pod: result,
      raw,
    };
  }

  /** Admits the Pod, then re-sends the mutated Pod (reinvocation) and checks it is not patched again. */
  async reviewTwice(pod: Record<string, unknown>, options: ReviewOptions = {}): Promise<{ first: CheckedAnswer; second: CheckedAnswer }> {
    const first = await this.review(pod, options);
    const second = await this.review(first.pod, options);
    assert.equal(second.patch, undefined, 'a second admission of the mutated Pod must not patch it again');
    assert.equal(second.allowed, first.allowed);
    return { first, second };
  }

  close(): void {
    this.agent.destroy();
  }
}

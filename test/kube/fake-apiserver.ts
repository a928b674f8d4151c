// An in-process stand-in for the API server's REST endpoints that register/unregister and the version
// check use, answering with the real status codes and Status JSON shapes (NotFound, AlreadyExists,
// Conflict on a stale resourceVersion, Invalid), and recording every request for assertions.
// It plays the version it reports: below 1.28 (or with the AdmissionWebhookMatchConditions gate off) it drops
// webhooks' matchConditions and still answers 201/200, as a real server does: 1.27 knows the alpha field but
// clears it while its gate is off, older servers drop it as an unknown field (fieldValidation defaults to Warn
// and client-node does not ask for Strict; the warning header is all the client gets). Below 1.30 it has no
// ValidatingAdmissionPolicy v1 (404 for the whole path).
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseCel } from '@bufbuild/cel';
import { stringify } from 'yaml';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly body: any;
}

export interface Reply {
  readonly status: number;
  readonly body: unknown;
}

export interface FakeApiServerOptions {
  /** What GET /version answers. */
  version?: { major: string; minor: string; gitVersion: string };
  /** Bearer token the server requires (401 otherwise), to prove the kubeconfig's credentials are used. */
  token?: string;
  /** A 1.28/1.29 server started with --feature-gates=AdmissionWebhookMatchConditions=false. */
  matchConditionsGateOff?: boolean;
}

type Json = Record<string, any>;

const MWC_BASE = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const MWC_GROUP_RESOURCE = { group: 'admissionregistration.k8s.io', kind: 'mutatingwebhookconfigurations' };
const VAP_BASE = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies';
const VAP_GROUP_RESOURCE = { group: 'admissionregistration.k8s.io', kind: 'validatingadmissionpolicies' };
const VAPB_BASE = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings';
const VAPB_GROUP_RESOURCE = { group: 'admissionregistration.k8s.io', kind: 'validatingadmissionpolicybindings' };
const SECRETS = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/;

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  /** Runs before a request is handled: may change the stored state (another writer) or answer instead (possibly later). */
  readonly hooks: ((req: RecordedRequest, server: FakeApiServer) => Reply | undefined | Promise<Reply | undefined>)[] = [];
  version = { major: '1', minor: '30', gitVersion: 'v1.30.4' };
  private readonly objects = new Map<string, Json>();
  private resourceVersion = 1000;
  private server: Server | undefined;
  private dir: string | undefined;
  private token: string | undefined;
  matchConditionsGateOff = false;
  url = '';
  kubeconfigPath = '';

  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const fake = new FakeApiServer();
    if (options.version) fake.version = options.version;
    fake.token = options.token;
    fake.matchConditionsGateOff = options.matchConditionsGateOff ?? false;
    const server = createServer((req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.server = server;
    fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    fake.dir = await mkdtemp(join(tmpdir(), 'ei-fake-apiserver-'));
    fake.kubeconfigPath = join(fake.dir, 'kubeconfig');
    await writeFile(fake.kubeconfigPath, kubeconfigYaml(fake.url, options.token));
    return fake;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  /** The stored MutatingWebhookConfiguration, as a GET would return it. */
  mwc(name: string): Json | undefined {
    const o = this.objects.get(`${MWC_BASE}/${name}`);
    return o === undefined ? undefined : structuredClone(o);
  }

  /** Every stored MutatingWebhookConfiguration (what an API server consults on each admission). */
  mwcs(): Json[] {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${MWC_BASE}/`)).map(([, v]) => structuredClone(v));
  }

  /** Stores an object as if a client had created it earlier (defaults applied, metadata assigned). */
  seedMwc(object: Json): Json {
    const stored = this.stamp(this.defaultMwc(structuredClone(object)));
    this.objects.set(`${MWC_BASE}/${object.metadata.name}`, stored);
    return structuredClone(stored);
  }

  /** What another writer's successful update does: change the object and bump its resourceVersion. */
  touchMwc(name: string, change: (o: Json) => void): void {
    const o = this.objects.get(`${MWC_BASE}/${name}`);
    if (!o) throw new Error(`touchMwc: ${name} not stored`);
    change(o);
    o.metadata.resourceVersion = this.nextVersion();
  }

  /** The stored ValidatingAdmissionPolicy / binding, as a GET would return it. */
  policy(name: string): Json | undefined {
    const o = this.objects.get(`${VAP_BASE}/${name}`);
    return o === undefined ? undefined : structuredClone(o);
  }

  /** Another writer's change to the stored policy. */
  touchPolicy(name: string, change: (o: Json) => void): void {
    const o = this.objects.get(`${VAP_BASE}/${name}`);
    if (!o) throw new Error(`touchPolicy: ${name} not stored`);
    change(o);
    o.metadata.resourceVersion = this.nextVersion();
  }

  binding(name: string): Json | undefined {
    const o = this.objects.get(`${VAPB_BASE}/${name}`);
    return o === undefined ? undefined : structuredClone(o);
  }

  secret(namespace: string, name: string): Json | undefined {
    const o = this.objects.get(`/api/v1/namespaces/${namespace}/secrets/${name}`);
    return o === undefined ? undefined : structuredClone(o);
  }

  seedSecret(object: Json): void {
    this.objects.set(`/api/v1/namespaces/${object.metadata.namespace}/secrets/${object.metadata.name}`, this.stamp(structuredClone(object)));
  }

  /** "METHOD path" of every request so far, in order. */
  calls(): string[] {
    return this.requests.map((r) => `${r.method} ${r.path}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const text = await readBody(req);
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      return send(res, 400, status(400, 'BadRequest', `the body of the request was in an unknown format`));
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      body,
    };
    this.requests.push(recorded);
    for (const hook of this.hooks) {
      const reply = await hook(recorded, this);
      if (reply) return send(res, reply.status, reply.body);
    }
    if (this.token !== undefined && recorded.authorization !== `Bearer ${this.token}`) {
      return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const reply = this.route(recorded);
    send(res, reply.status, reply.body);
  }

  private route(r: RecordedRequest): Reply {
    if (r.path === '/version' && r.method === 'GET') {
      return { status: 200, body: { ...this.version, gitCommit: '0000000', gitTreeState: 'clean', buildDate: '2024-08-14T00:00:00Z', goVersion: 'go1.22.5', compiler: 'gc', platform: 'linux/amd64' } };
    }
    for (const [base, gr, kind, defaults, validate] of [
      [VAP_BASE, VAP_GROUP_RESOURCE, 'ValidatingAdmissionPolicy', defaultPolicy, validatePolicy],
      [VAPB_BASE, VAPB_GROUP_RESOURCE, 'ValidatingAdmissionPolicyBinding', (o: Json) => o, validateBinding],
    ] as const) {
      if (r.path !== base && !r.path.startsWith(`${base}/`)) continue;
      // Before 1.30 the v1 API has no such resource: the server answers 404 for the whole path.
      if (!this.atLeast(1, 30)) return { status: 404, body: status(404, 'NotFound', 'the server could not find the requested resource') };
      if (r.path === base && r.method === 'POST') return this.create(base, r.body, gr, defaults, validate);
      if (r.path !== base) return this.item(r, base, decodeURIComponent(r.path.slice(base.length + 1)), gr, kind, defaults, validate);
    }
    if (r.path === MWC_BASE) {
      if (r.method === 'POST') return this.create(r.path, r.body, MWC_GROUP_RESOURCE, (o) => this.defaultMwc(o), validateMwc, r.query.get('dryRun') === 'All');
      if (r.method === 'GET') return { status: 200, body: this.list(MWC_BASE, 'MutatingWebhookConfigurationList', 'admissionregistration.k8s.io/v1') };
    }
    if (r.path.startsWith(`${MWC_BASE}/`)) {
      const name = decodeURIComponent(r.path.slice(MWC_BASE.length + 1));
      return this.item(r, MWC_BASE, name, MWC_GROUP_RESOURCE, 'MutatingWebhookConfiguration', (o) => this.defaultMwc(o), validateMwc);
    }
    const secrets = SECRETS.exec(r.path);
    if (secrets) {
      const base = `/api/v1/namespaces/${secrets[1]}/secrets`;
      const gr = { group: '', kind: 'secrets' };
      if (secrets[2] === undefined && r.method === 'POST') {
        return this.create(base, r.body, gr, (o) => ({ type: 'Opaque', ...o, metadata: { ...o.metadata, namespace: secrets[1] } }), () => []);
      }
      if (secrets[2] !== undefined) return this.item(r, base, decodeURIComponent(secrets[2]), gr, 'Secret', (o) => o, () => []);
    }
    return { status: 404, body: status(404, 'NotFound', 'the server could not find the requested resource') };
  }

  private atLeast(major: number, minor: number): boolean {
    const have = { major: Number.parseInt(this.version.major, 10), minor: Number.parseInt(this.version.minor, 10) };
    return have.major > major || (have.major === major && have.minor >= minor);
  }

  /** The v1 defaults (SetDefaults_MutatingWebhook / _Rule / _ServiceReference), and the fields this version drops. */
  private defaultMwc(o: Json): Json {
    const served = this.atLeast(1, 28) && !this.matchConditionsGateOff;
    for (const w of o.webhooks ?? []) {
      if (!served) delete w.matchConditions;
      w.failurePolicy ??= 'Fail';
      w.matchPolicy ??= 'Equivalent';
      w.namespaceSelector ??= {};
      w.objectSelector ??= {};
      w.timeoutSeconds ??= 10;
      w.reinvocationPolicy ??= 'Never';
      for (const rule of w.rules ?? []) rule.scope ??= '*';
      if (w.clientConfig?.service) w.clientConfig.service.port ??= 443;
    }
    return o;
  }

  private item(
    r: RecordedRequest,
    base: string,
    name: string,
    gr: { group: string; kind: string },
    kind: string,
    defaults: (o: Json) => Json,
    validate: (o: Json) => string[],
  ): Reply {
    const key = `${base}/${name}`;
    const stored = this.objects.get(key);
    const notFound = (): Reply => ({ status: 404, body: status(404, 'NotFound', `${qualified(gr)} "${name}" not found`, { name, ...gr }) });
    if (r.method === 'GET') return stored ? { status: 200, body: stored } : notFound();
    if (r.method === 'DELETE') {
      if (!stored) return notFound();
      this.objects.delete(key);
      return { status: 200, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, ...gr, uid: stored.metadata.uid } } };
    }
    if (r.method === 'PUT') {
      const body = r.body as Json | undefined;
      if (body?.metadata?.name !== name) {
        return { status: 400, body: status(400, 'BadRequest', `the name of the object (${body?.metadata?.name}) does not match the name on the URL (${name})`) };
      }
      if (!stored) return notFound();
      const sent = body.metadata.resourceVersion;
      if (sent !== undefined && sent !== stored.metadata.resourceVersion) {
        return {
          status: 409,
          body: status(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, ...gr }),
        };
      }
      const next = defaults(structuredClone(body));
      const problems = validate(next);
      if (problems.length > 0) return invalid(kind, gr, name, problems);
      // Set by the server, whatever the client sent; managedFields kept when omitted.
      next.metadata.uid = stored.metadata.uid;
      next.metadata.creationTimestamp = stored.metadata.creationTimestamp;
      next.metadata.managedFields = next.metadata.managedFields ?? stored.metadata.managedFields;
      next.metadata.resourceVersion = this.nextVersion();
      this.objects.set(key, next);
      return { status: 200, body: next };
    }
    return { status: 405, body: status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`) };
  }

  /** With dryRun (the API server's dryRun=All): answered as created, not stored. */
  private create(base: string, body: Json | undefined, gr: { group: string; kind: string }, defaults: (o: Json) => Json, validate: (o: Json) => string[], dryRun = false): Reply {
    const name = body?.metadata?.name;
    if (body === undefined || typeof name !== 'string' || name.length === 0) {
      return invalid(body?.kind ?? 'Object', gr, '', ['metadata.name: Required value: name or generateName is required']);
    }
    const key = `${base}/${name}`;
    if (this.objects.has(key)) {
      return { status: 409, body: status(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, { name, ...gr }) };
    }
    if (body.metadata.resourceVersion) return invalid(body.kind, gr, name, ['metadata.resourceVersion: Invalid value: "' + body.metadata.resourceVersion + '": must be empty on create']);
    const object = defaults(structuredClone(body));
    const problems = validate(object);
    if (problems.length > 0) return invalid(body.kind, gr, name, problems);
    const stored = this.stamp(object);
    if (!dryRun) this.objects.set(key, stored);
    return { status: 201, body: stored };
  }

  private list(base: string, kind: string, apiVersion: string): Json {
    const items = [...this.objects.entries()].filter(([k]) => k.startsWith(`${base}/`)).map(([, v]) => v);
    return { kind, apiVersion, metadata: { resourceVersion: String(this.resourceVersion) }, items };
  }

  private stamp(o: Json): Json {
    o.metadata = { ...o.metadata, uid: randomUUID(), resourceVersion: this.nextVersion(), creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') };
    return o;
  }

  private nextVersion(): string {
    this.resourceVersion += 1;
    return String(this.resourceVersion);
  }
}

/** SetDefaults_ValidatingAdmissionPolicySpec / _MatchResources / _NamedRuleWithOperations (v1). */
function defaultPolicy(o: Json): Json {
  const spec = (o.spec ??= {});
  spec.failurePolicy ??= 'Fail';
  if (spec.matchConstraints) {
    spec.matchConstraints.matchPolicy ??= 'Equivalent';
    spec.matchConstraints.namespaceSelector ??= {};
    spec.matchConstraints.objectSelector ??= {};
    for (const rule of spec.matchConstraints.resourceRules ?? []) rule.scope ??= '*';
  }
  return o;
}

/** The CEL a real server compiles on write: here parsed by a real CEL parser, so a syntax error is refused the same way. */
function celProblems(path: string, expression: unknown): string[] {
  if (typeof expression !== 'string' || expression.length === 0) return [`${path}: Required value`];
  try {
    parseCel(expression);
    return [];
  } catch (e) {
    return [`${path}: Invalid value: ${JSON.stringify(expression)}: compilation failed: ${(e as Error).message}`];
  }
}

function matchConditionProblems(path: string, conditions: unknown): string[] {
  if (conditions === undefined) return [];
  if (!Array.isArray(conditions)) return [`${path}: Invalid value: must be a list`];
  const problems: string[] = [];
  if (conditions.length > 64) problems.push(`${path}: Too many: ${conditions.length}: must have at most 64 items`);
  const names = new Set<string>();
  conditions.forEach((c: Json, i: number) => {
    if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(c.name ?? '')) problems.push(`${path}[${i}].name: Invalid value: "${c.name}": must be a qualified name`);
    if (names.has(c.name)) problems.push(`${path}[${i}].name: Duplicate value: "${c.name}"`);
    names.add(c.name);
    problems.push(...celProblems(`${path}[${i}].expression`, c.expression));
  });
  return problems;
}

function validatePolicy(o: Json): string[] {
  const spec = o.spec ?? {};
  const problems: string[] = [];
  if (!['Fail', 'Ignore'].includes(spec.failurePolicy)) problems.push(`spec.failurePolicy: Unsupported value: "${spec.failurePolicy}"`);
  if (!Array.isArray(spec.matchConstraints?.resourceRules) || spec.matchConstraints.resourceRules.length === 0) problems.push('spec.matchConstraints.resourceRules: Required value');
  if (!Array.isArray(spec.validations) || spec.validations.length === 0) problems.push('spec.validations: Required value: validations or auditAnnotations must contain at least one item');
  (spec.validations ?? []).forEach((v: Json, i: number) => problems.push(...celProblems(`spec.validations[${i}].expression`, v.expression)));
  problems.push(...matchConditionProblems('spec.matchConditions', spec.matchConditions));
  return problems;
}

function validateBinding(o: Json): string[] {
  const spec = o.spec ?? {};
  const problems: string[] = [];
  if (typeof spec.policyName !== 'string' || spec.policyName.length === 0) problems.push('spec.policyName: Required value');
  const actions: unknown[] = Array.isArray(spec.validationActions) ? spec.validationActions : [];
  if (actions.length === 0) problems.push('spec.validationActions: Required value: at least one validation action is required');
  for (const a of actions) if (!['Deny', 'Warn', 'Audit'].includes(a as string)) problems.push(`spec.validationActions: Unsupported value: "${a}"`);
  if (actions.includes('Deny') && actions.includes('Warn')) problems.push('spec.validationActions: Invalid value: Deny and Warn may not be used together');
  return problems;
}

/** A subset of ValidateMutatingWebhookConfiguration: the rules a merge could break. */
function validateMwc(o: Json): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  (o.webhooks ?? []).forEach((w: Json, i: number) => {
    if (seen.has(w.name)) problems.push(`webhooks[${i}].name: Duplicate value: "${w.name}"`);
    seen.add(w.name);
    if (!['None', 'NoneOnDryRun'].includes(w.sideEffects)) problems.push(`webhooks[${i}].sideEffects: Unsupported value: "${w.sideEffects}": supported values: "None", "NoneOnDryRun"`);
    if (!Array.isArray(w.admissionReviewVersions) || w.admissionReviewVersions.length === 0) problems.push(`webhooks[${i}].admissionReviewVersions: Required value`);
    if (!(w.timeoutSeconds >= 1 && w.timeoutSeconds <= 30)) problems.push(`webhooks[${i}].timeoutSeconds: Invalid value: ${w.timeoutSeconds}: the timeout value must be between 1 and 30 seconds`);
    problems.push(...matchConditionProblems(`webhooks[${i}].matchConditions`, w.matchConditions));
    const cc = w.clientConfig ?? {};
    if ((cc.url === undefined) === (cc.service === undefined)) problems.push(`webhooks[${i}].clientConfig: Required value: exactly one of url or service is required`);
  });
  return problems;
}

function invalid(kind: string, gr: { group: string; kind: string }, name: string, problems: string[]): Reply {
  const body = status(422, 'Invalid', `${kind}.${gr.group} "${name}" is invalid: ${problems.join(', ')}`, {
    name,
    ...gr,
    causes: problems.map((p) => ({ reason: 'FieldValueInvalid', message: p.slice(p.indexOf(': ') + 2), field: p.slice(0, p.indexOf(':')) })),
  });
  return { status: 422, body };
}

export function status(code: number, reason: string, message: string, details?: Json): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function qualified(gr: { group: string; kind: string }): string {
  return gr.group === '' ? gr.kind : `${gr.kind}.${gr.group}`;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function kubeconfigYaml(server: string, token: string | undefined): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    // Plain http on loopback: client-node allows it only with insecure-skip-tls-verify.
    clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'tester', user: token === undefined ? {} : { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester' } }],
    'current-context': 'fake',
  });
}

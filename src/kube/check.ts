// kube edge: `check`, one result per question a platform team asks of an installed webhook, in the order a
// request travels (configuration -> certificate -> Deployment -> Service -> end to end), each with its fix.
import type { X509Certificate } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  type V1Deployment,
  type V1MutatingWebhook,
  type V1MutatingWebhookConfiguration,
  type V1Secret,
} from '@kubernetes/client-node';
import { ANNOTATION } from '../core/annotations.js';
import { isInjectorError } from '../errors.js';
import { TLS_FILES } from '../tls/names.js';
import { httpStatusOf, toKubeError } from './api-error.js';
import { OBJECT_ROLES, compareWithRegister, type ObjectState } from './check-config.js';
import { PROBE_TEMPLATE, dryRunCreate, injectedExporters, injectionMarks, probePod } from './check-probe.js';
import { coversHost, oneLine, parseCertificates, serviceHostname, validityOf, verifyChain } from './check-tls.js';
import { readClusterVersion } from './cluster-version.js';
import { serverOf } from './kubeconfig.js';
import { WEBHOOK_DEFAULTS, type WebhookOptions } from './webhook-config.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable identifier (for -o json and scripts). */
  readonly id: string;
  readonly status: CheckStatus;
  readonly summary: string;
  readonly details: readonly string[];
  /** What to do about a failure or warning. */
  readonly fix?: string;
}

export interface CheckReport {
  readonly server: string;
  readonly kubernetesVersion: string;
  /** True when nothing failed (warnings allowed). */
  readonly ok: boolean;
  readonly results: readonly CheckResult[];
}

export interface CheckOptions {
  readonly webhook: WebhookOptions;
  readonly deployment: string;
  readonly secret: string;
  readonly probeNamespace: string;
  readonly expiryWarningDays: number;
  readonly now?: Date;
}

export const CHECK_DEFAULTS = Object.freeze({ deployment: 'exporter-injector', probeNamespace: 'default', expiryWarningDays: 30 });

const pass = (id: string, summary: string, details: string[] = []): CheckResult => ({ id, status: 'pass', summary, details });
const warn = (id: string, summary: string, fix: string, details: string[] = []): CheckResult => ({ id, status: 'warn', summary, details, fix });
const fail = (id: string, summary: string, fix: string, details: string[] = []): CheckResult => ({ id, status: 'fail', summary, details, fix });
const skip = (id: string, summary: string): CheckResult => ({ id, status: 'skip', summary, details: [] });

/** Runs every check; throws only when the API server cannot be reached at all. */
export async function runChecks(kc: KubeConfig, options: CheckOptions): Promise<CheckReport> {
  const server = serverOf(kc);
  const version = await readClusterVersion(kc);
  const o = options.webhook;
  const ns = o.namespace;
  const now = options.now ?? new Date();
  const results: CheckResult[] = [];
  const guard = async (id: string, what: string, run: () => Promise<CheckResult | CheckResult[]>): Promise<void> => {
    try {
      const r = await run();
      results.push(...(Array.isArray(r) ? r : [r]));
    } catch (e) {
      if (!isInjectorError(e)) throw e;
      results.push(fail(id, `cannot ${what}`, 'check the credentials allow reading it (kubectl auth can-i get ... ) and the API server answers', [e.message]));
    }
  };

  let states: ObjectState[] = [];
  await guard('configuration', 'read the admission configuration', async () => {
    const compared = await compareWithRegister(kc, o, version, server);
    states = compared.states;
    const notice = compared.notice ? [warn('configuration', compared.notice, 'turn the AdmissionWebhookMatchConditions feature gate on (or upgrade to 1.30), then run register again for per-pod failure policies')] : [];
    return [...notice, ...states.map((s) => configurationResult(s, o))];
  });
  const configuration = states.find((s) => s.desired.kind === 'MutatingWebhookConfiguration')?.existing as V1MutatingWebhookConfiguration | undefined;

  await guard('secret', `read secret/${options.secret}`, async () => {
    const secret = await readOrUndefined(() => kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: options.secret, namespace: ns }), `read secrets/${options.secret} in namespace ${ns}`);
    return certificateResults(configuration, secret, options, now);
  });

  await guard('replicas', `read deployment/${options.deployment}`, async () => {
    const deployment = await readOrUndefined(
      () => kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: options.deployment, namespace: ns }),
      `read deployments/${options.deployment} in namespace ${ns}`,
    );
    return deploymentResults(deployment, options);
  });
  await guard('endpoints', `read the endpoints of service/${o.service}`, () => endpointsResult(kc, o));
  const failedSoFar = results.filter((r) => r.status === 'fail').length;
  await guard('probe-inject', 'run the dry-run probes', () => probeResults(kc, options, failedSoFar > 0));

  return { server, kubernetesVersion: version.gitVersion, ok: results.every((r) => r.status !== 'fail'), results };
}

// ---------------------------------------------------------------------------------------------

/** The register command line that writes what check expects: the flags whose value is not register's default. */
function registerCommand(o: WebhookOptions, secret?: string): string {
  const d = WEBHOOK_DEFAULTS;
  const flags = [
    o.name !== d.name ? `--name ${o.name}` : '',
    o.namespace !== d.namespace ? `--namespace ${o.namespace}` : '',
    o.service !== d.service ? `--service ${o.service}` : '',
    o.path !== d.path ? `--path ${o.path}` : '',
    o.port !== d.port ? `--port ${o.port}` : '',
    o.failurePolicy !== d.failurePolicy ? `--failure-policy ${o.failurePolicy}` : '',
    o.timeoutSeconds !== d.timeoutSeconds ? `--timeout ${o.timeoutSeconds}` : '',
    o.labelGate ? '--label-gate' : '',
    o.validationAction !== d.validationAction ? `--validation-action ${o.validationAction}` : '',
    secret ? `--ensure-secret ${secret}` : '',
  ].filter(Boolean);
  return ['exporter-injector register', ...flags].join(' ');
}

function configurationResult(s: ObjectState, o: WebhookOptions): CheckResult {
  const role = OBJECT_ROLES[s.desired.kind ?? ''] ?? { id: 'configuration', missing: 'register has not written it' };
  if (s.existing === undefined) {
    return fail(role.id, `${s.ref} does not exist: ${role.missing}`, `create it: ${registerCommand(o)} (or apply an overlay of deploy/)`);
  }
  if (s.differences.length > 0) {
    return fail(
      role.id,
      `${s.ref} differs from what register writes (${s.differences.length} field${s.differences.length === 1 ? '' : 's'}; in the cluster -> expected)`,
      `run ${registerCommand(o)}; or, if the differences are intended, pass check the same flags register was given`,
      [...s.differences],
    );
  }
  return pass(role.id, `${s.ref} matches what register writes`);
}

function certificateResults(configuration: V1MutatingWebhookConfiguration | undefined, secret: V1Secret | undefined, options: CheckOptions, now: Date): CheckResult[] {
  const o = options.webhook;
  const ref = `secret/${options.secret}`;
  const fixSecret = `create it: ${registerCommand(o, options.secret)} (a new CA and serving certificate), or let cert-manager issue it (deploy/overlays/cert-manager)`;
  if (secret === undefined) return [fail('secret', `${ref} does not exist in namespace ${o.namespace}`, fixSecret), skip('ca-bundle', 'caBundle not checked (no Secret)'), skip('expiry', 'expiry not checked (no Secret)')];
  const pem = secret.data?.[TLS_FILES.cert] === undefined ? '' : Buffer.from(secret.data[TLS_FILES.cert] as string, 'base64').toString('utf8');
  let chain: X509Certificate[];
  try {
    chain = parseCertificates(pem);
  } catch (e) {
    return [fail('secret', `${ref} key ${TLS_FILES.cert} does not parse: ${(e as Error).message}`, fixSecret), skip('ca-bundle', 'caBundle not checked'), skip('expiry', 'expiry not checked')];
  }
  const leaf = chain[0];
  if (!leaf) return [fail('secret', `${ref} has no PEM certificate under ${TLS_FILES.cert}`, fixSecret), skip('ca-bundle', 'caBundle not checked'), skip('expiry', 'expiry not checked')];
  return [caBundleResult(configuration, secret, chain, leaf, options), expiryResult(leaf, ref, options, now)];
}

function caBundleResult(configuration: V1MutatingWebhookConfiguration | undefined, secret: V1Secret, chain: X509Certificate[], leaf: X509Certificate, options: CheckOptions): CheckResult {
  const o = options.webhook;
  if (configuration === undefined) return skip('ca-bundle', 'caBundle not checked (no webhook configuration)');
  const ours = (configuration.webhooks ?? []).filter((w) => w.clientConfig?.service?.name === o.service && w.clientConfig.service.namespace === o.namespace);
  if (ours.length === 0) return skip('ca-bundle', `caBundle not checked (no webhook calls service/${o.service} in namespace ${o.namespace})`);
  const secretCa = secretCaSigns(secret, chain);
  const fix = secretCa
    ? `register the Secret's CA: ${registerCommand(o, options.secret)} (uses its ca.crt), or with cert-manager check the inject-ca-from annotation names the Certificate`
    : `the Secret's own ca.crt does not sign its tls.crt either: reissue the pair (delete secret/${options.secret}, then ${registerCommand(o, options.secret)}), or renew the cert-manager Certificate`;
  const host = serviceHostname(o.service, o.namespace);
  const problems: string[] = [];
  for (const webhook of ours) {
    const problem = bundleProblem(webhook, chain);
    if (problem) problems.push(`webhook ${webhook.name}: ${problem}`);
  }
  if (!coversHost(leaf, host)) problems.push(`the serving certificate does not name ${host} (its SANs: ${leaf.subjectAltName ?? 'none'}); the API server checks that name`);
  if (problems.length > 0) {
    return fail('ca-bundle', `caBundle does not verify the serving certificate in secret/${options.secret}`, coversHost(leaf, host) ? fix : `issue a certificate for ${host}: exporter-injector certs --service ${o.service} --namespace ${o.namespace}`, problems);
  }
  return pass('ca-bundle', `caBundle verifies the serving certificate in secret/${options.secret} for ${host}`);
}

function secretCaSigns(secret: V1Secret, chain: X509Certificate[]): boolean {
  const b64 = secret.data?.[TLS_FILES.caCert];
  if (b64 === undefined) return false;
  try {
    return verifyChain(chain, parseCertificates(Buffer.from(b64, 'base64').toString('utf8'))).ok;
  } catch {
    return false;
  }
}

function bundleProblem(webhook: V1MutatingWebhook, chain: X509Certificate[]): string | undefined {
  const b64 = webhook.clientConfig?.caBundle;
  if (b64 === undefined || b64 === '') return 'has no caBundle (the API server then trusts only its own roots)';
  let bundle: X509Certificate[];
  try {
    bundle = parseCertificates(Buffer.from(b64, 'base64').toString('utf8'));
  } catch (e) {
    return `its caBundle does not parse: ${(e as Error).message}`;
  }
  const verdict = verifyChain(chain, bundle);
  return verdict.ok ? undefined : verdict.problem;
}

function expiryResult(leaf: X509Certificate, ref: string, options: CheckOptions, now: Date): CheckResult {
  const v = validityOf(leaf, now);
  const renew = `renew it: with cert-manager, cmctl renew -n ${options.webhook.namespace} <certificate>; self-managed, delete ${ref} and run ${registerCommand(options.webhook, options.secret)} (serve reloads the new pair)`;
  const subject = oneLine(leaf.subject);
  if (v.state === 'expired') return fail('expiry', `the serving certificate in ${ref} expired on ${v.notAfter.toISOString()} (${-v.daysLeft} days ago)`, renew, [subject]);
  if (v.state === 'not-yet-valid') return fail('expiry', `the serving certificate in ${ref} is not valid before ${v.notBefore.toISOString()}`, 'check the clock of the machine that issued it', [subject]);
  if (v.daysLeft < options.expiryWarningDays) {
    return warn('expiry', `the serving certificate in ${ref} expires in ${v.daysLeft} days (${v.notAfter.toISOString()}; warning under ${options.expiryWarningDays})`, renew);
  }
  return pass('expiry', `the serving certificate in ${ref} is valid for ${v.daysLeft} more days (until ${v.notAfter.toISOString().slice(0, 10)})`);
}

function deploymentResults(deployment: V1Deployment | undefined, options: CheckOptions): CheckResult[] {
  const ref = `deployment/${options.deployment}`;
  const ns = options.webhook.namespace;
  if (deployment === undefined) {
    return [fail('replicas', `${ref} does not exist in namespace ${ns}`, 'install it (kubectl apply -k deploy/overlays/<overlay>), or pass --deployment NAME'), skip('mounted-secret', 'mounted Secret not checked (no Deployment)')];
  }
  const mounted = (deployment.spec?.template.spec?.volumes ?? []).flatMap((v) => [
    ...(v.secret?.secretName ? [v.secret.secretName] : []),
    ...(v.projected?.sources ?? []).flatMap((s) => (s.secret?.name ? [s.secret.name] : [])),
  ]);
  const mount = mounted.includes(options.secret)
    ? pass('mounted-secret', `${ref} mounts secret/${options.secret}`)
    : fail(
        'mounted-secret',
        `${ref} does not mount secret/${options.secret}${mounted.length > 0 ? `; it mounts ${mounted.map((m) => `secret/${m}`).join(', ')}` : ''}`,
        mounted.length > 0 ? `check the Secret the webhook serves from: exporter-injector check --secret ${mounted[0]}; or point the Deployment's tls volume at ${options.secret}` : `mount secret/${options.secret} (see deploy/base/deployment.yaml, volume tls)`,
        ['the caBundle line above verified a certificate the webhook does not serve'],
      );
  const wanted = deployment.spec?.replicas ?? 1;
  const ready = deployment.status?.readyReplicas ?? 0;
  const fixPods = `kubectl -n ${ns} describe ${ref}; kubectl -n ${ns} logs ${ref}`;
  const replicas =
    ready === 0
      ? fail('replicas', `${ref} has no ready replicas (0/${wanted})`, fixPods)
      : ready < wanted
        ? warn('replicas', `${ref} has ${ready}/${wanted} ready replicas`, fixPods)
        : pass('replicas', `${ref} has ${ready}/${wanted} ready replicas`);
  return [mount, replicas];
}

async function endpointsResult(kc: KubeConfig, o: WebhookOptions): Promise<CheckResult> {
  const ref = `service/${o.service}`;
  const service = await readOrUndefined(() => kc.makeApiClient(CoreV1Api).readNamespacedService({ name: o.service, namespace: o.namespace }), `read services/${o.service} in namespace ${o.namespace}`);
  if (service === undefined) return fail('endpoints', `${ref} does not exist in namespace ${o.namespace}`, 'install it (deploy/base/service.yaml), or pass --service NAME');
  const port = (service.spec?.ports ?? []).find((p) => p.port === o.port);
  if (!port) {
    return fail('endpoints', `${ref} has no port ${o.port} (the port the webhook configuration calls)`, `add port ${o.port} to the Service, or register with --port`, [`ports: ${(service.spec?.ports ?? []).map((p) => p.port).join(', ') || 'none'}`]);
  }
  const { ready, notReady, source } = await readyEndpoints(kc, o.service, o.namespace, port.name);
  const fix = `kubectl -n ${o.namespace} get pods -l app.kubernetes.io/name=exporter-injector; the Service's selector must match the webhook pods, and they must pass /readyz`;
  if (ready === 0) return fail('endpoints', `${ref} has no ready endpoints for port ${o.port}${notReady > 0 ? ` (${notReady} not ready)` : ''}`, fix, [`read from ${source}`]);
  return pass('endpoints', `${ref} has ${ready} ready endpoint${ready === 1 ? '' : 's'} for port ${o.port}${notReady > 0 ? ` (${notReady} not ready)` : ''}`);
}

/** From EndpointSlices (discovery.k8s.io/v1); from the Endpoints object where that API is missing. */
async function readyEndpoints(kc: KubeConfig, service: string, namespace: string, portName: string | undefined): Promise<{ ready: number; notReady: number; source: string }> {
  const ready = new Set<string>();
  const notReady = new Set<string>();
  try {
    const slices = await kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${service}` });
    for (const slice of slices.items) {
      if (!(slice.ports ?? []).some((p) => (p.name ?? undefined) === (portName ?? undefined) || portName === undefined)) continue;
      for (const e of slice.endpoints) {
        // An unset ready condition means unknown, which consumers treat as ready.
        const target = e.conditions?.ready === false ? notReady : ready;
        for (const a of e.addresses) target.add(a);
      }
    }
    return { ready: ready.size, notReady: notReady.size, source: 'EndpointSlices' };
  } catch (e) {
    if (httpStatusOf(e) !== 404) throw toKubeError(e, `list endpointslices in namespace ${namespace}`);
  }
  const endpoints = await readOrUndefined(() => kc.makeApiClient(CoreV1Api).readNamespacedEndpoints({ name: service, namespace }), `read endpoints/${service} in namespace ${namespace}`);
  for (const subset of endpoints?.subsets ?? []) {
    if (portName !== undefined && !(subset.ports ?? []).some((p) => p.name === portName)) continue;
    for (const a of subset.addresses ?? []) ready.add(a.ip);
    for (const a of subset.notReadyAddresses ?? []) notReady.add(a.ip);
  }
  return { ready: ready.size, notReady: notReady.size, source: 'Endpoints (no EndpointSlice API)' };
}

async function probeResults(kc: KubeConfig, options: CheckOptions, earlierFailures: boolean): Promise<CheckResult[]> {
  const ns = options.probeNamespace;
  const logs = `kubectl -n ${options.webhook.namespace} logs deployment/${options.deployment} (one line per admission)`;
  const lookAbove = earlierFailures
    ? 'the failures above are on the path from the API server to the webhook: fix them first'
    : `every check above passed, so read ${logs} and the API server's log for "failed calling webhook"`;

  const inject = await dryRunCreate(kc, ns, probePod(true));
  let injectResult: CheckResult;
  if (inject.outcome === 'refused') {
    injectResult = fail('probe-inject', `a dry-run pod that opts in to ${PROBE_TEMPLATE} in namespace ${ns} was refused`, lookAbove, [inject.message]);
  } else {
    const found = injectedExporters(inject.returned);
    const complete = found.status && found.named.length > 0 && found.present.length === found.named.length;
    const absent = found.named.filter((n) => !found.present.includes(n));
    const missing = found.status ? `the exporter container ${absent.join(', ') || '(its status annotation names none)'}` : 'an exporter container and the status annotation';
    injectResult = complete
      ? pass('probe-inject', `a dry-run pod that opts in to ${PROBE_TEMPLATE} in namespace ${ns} came back with ${found.present.join(', ')} and the status annotation`)
      : fail(
          'probe-inject',
          `a dry-run pod that opts in to ${PROBE_TEMPLATE} in namespace ${ns} came back without ${missing}`,
          earlierFailures ? lookAbove : `${lookAbove}; is namespace ${ns} excluded by the namespaceSelector? (try --probe-namespace)`,
          ['the webhook was not called, its call failed, or it answered without a patch'],
        );
  }

  const plain = await dryRunCreate(kc, ns, probePod(false));
  let skipResult: CheckResult;
  if (plain.outcome === 'refused') {
    skipResult = fail('probe-skip', `a dry-run pod that does not opt in, in namespace ${ns}, was refused: pods that never asked for an exporter are blocked`, lookAbove, [plain.message]);
  } else {
    const marks = injectionMarks(plain.returned);
    skipResult =
      marks.length === 0
        ? pass('probe-skip', `a dry-run pod that does not opt in, in namespace ${ns}, came back without injection`)
        : fail('probe-skip', `a dry-run pod that does not opt in, in namespace ${ns}, came back injected`, `another webhook or an old exporter-injector version injects pods that did not opt in: kubectl get mutatingwebhookconfigurations`, marks);
  }
  return [injectResult, skipResult];
}

async function readOrUndefined<T>(read: () => Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (httpStatusOf(e) === 404) return undefined;
    throw toKubeError(e, what);
  }
}

// ---------------------------------------------------------------------------------------------

const SYMBOL: Record<CheckStatus, string> = { pass: '✓', warn: '!', fail: '✗', skip: '-' };

/** kubectl-like text: one line a check, its details and fix indented under it, and a count. */
export function formatCheckText(report: CheckReport): string {
  const lines = [`exporter-injector check: ${report.server} (Kubernetes ${report.kubernetesVersion})`, ''];
  for (const r of report.results) {
    lines.push(`${SYMBOL[r.status]} ${r.summary}`);
    for (const d of r.details) lines.push(`    ${d}`);
    if (r.fix && (r.status === 'fail' || r.status === 'warn')) lines.push(`    fix: ${r.fix}`);
  }
  const count = (s: CheckStatus) => report.results.filter((r) => r.status === s).length;
  const warnings = count('warn');
  lines.push('', `${count('pass')} passed, ${warnings} warning${warnings === 1 ? '' : 's'}, ${count('fail')} failed${count('skip') > 0 ? `, ${count('skip')} skipped` : ''}`);
  return `${lines.join('\n')}\n`;
}

// `exporter-injector register` / `unregister`: create-or-update or delete the admission objects: the
// MutatingWebhookConfiguration and the final-state ValidatingAdmissionPolicy with its binding.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { V1Secret } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { isDnsSubdomain } from '../../core/values.js';
import { InjectorError } from '../../errors.js';
import { requireKubeConfig, serverOf } from '../../kube/kubeconfig.js';
import { desiredAdmissionObjects, MATCH_CONDITIONS_SINCE, parseKubeVersion, VALIDATING_POLICY_SINCE } from '../../kube/admission-objects.js';
import { readClusterVersion } from '../../kube/cluster-version.js';
import { registerAdmission, unregisterAdmission, type ObjectResult } from '../../kube/register.js';
import { ensureTlsSecret } from '../../kube/tls-secret.js';
import {
  FAILURE_POLICIES,
  LABEL_GATE_KEY,
  TIMEOUT_RANGE,
  VALIDATION_ACTIONS,
  WEBHOOK_DEFAULTS,
  resolveWebhookOptions,
  type FailurePolicyOption,
  type ValidationAction,
  type WebhookOptions,
} from '../../kube/webhook-config.js';
import { generateCa, issueServingCertificate } from '../../tls/generate.js';
import { secretManifest } from '../../tls/secret.js';
import { EXIT, type CliIo, type Command } from '../io.js';

const DEFAULT_CA_FILE = 'certs/ca.crt';
const OUTPUTS = ['yaml', 'json'] as const;

const CLUSTER_FLAGS = `  --kubeconfig FILE        kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, else in-cluster)
  --context NAME           context of that kubeconfig (default: its current context)
  --name NAME              name of the MutatingWebhookConfiguration, and stem of the policy's name
                           (default ${WEBHOOK_DEFAULTS.name})`;

const REGISTER_HELP = `usage: exporter-injector register [flags]

Creates or updates the admission objects the cluster's version accepts (docs/admission.md):
  Kubernetes >= ${MATCH_CONDITIONS_SINCE.major}.${MATCH_CONDITIONS_SINCE.minor}: the MutatingWebhookConfiguration with two webhooks (one per pod policy) whose
                  matchConditions send only opted-in pods, never mirror pods;
  Kubernetes >= ${VALIDATING_POLICY_SINCE.major}.${VALIDATING_POLICY_SINCE.minor}: also the ValidatingAdmissionPolicy NAME-final-state and its binding, which flag an
                  opted-in pod admitted without the exporter-injector.io/status annotation;
  older:          one webhook, failurePolicy Ignore, every pod in scope is sent (a warning says so).
In the configuration, our webhooks and our labels are set; everything else on it (annotations, other labels,
other webhooks) is kept. An update that races another writer (HTTP 409) is re-read and retried. Prints what
changed, or "unchanged" for each object.

Defaults: pods, CREATE only; timeoutSeconds ${WEBHOOK_DEFAULTS.timeoutSeconds}; reinvocationPolicy IfNeeded; sideEffects None;
namespaces kube-system, kube-public, kube-node-lease and --namespace are never sent.

flags:
  --service NAME           Service in front of the webhook (default ${WEBHOOK_DEFAULTS.service})
  --namespace NAME         its namespace, also excluded from injection (default ${WEBHOOK_DEFAULTS.namespace})
  --path PATH              URL path serve answers on (default ${WEBHOOK_DEFAULTS.path})
  --port N                 Service port (default ${WEBHOOK_DEFAULTS.port})
  --failure-policy POLICY  when the webhook cannot answer (default ${WEBHOOK_DEFAULTS.failurePolicy}):
                           PerPod: pods with policy required wait (Fail), policy optional are created
                           without the exporter (Ignore); Ignore or Fail: the same for every pod
  --validation-action A    ${VALIDATION_ACTIONS.join(' | ')}: what the final-state policy does with an opted-in pod that was not
                           injected; both also write an audit annotation (default ${WEBHOOK_DEFAULTS.validationAction})
  --timeout SECONDS        ${TIMEOUT_RANGE.min}..${TIMEOUT_RANGE.max} (default ${WEBHOOK_DEFAULTS.timeoutSeconds})
  --label-gate             send only pods labelled ${LABEL_GATE_KEY}: "true" (clusters without matchConditions)
  --ca-file FILE           PEM CA the API server trusts for the webhook (default ${DEFAULT_CA_FILE})
  --ensure-secret NAME     create the kubernetes.io/tls Secret NAME in --namespace if missing (new CA and
                           serving certificate) and register with its ca.crt, instead of --ca-file
${CLUSTER_FLAGS}
  --dry-run                print the objects instead of sending them; needs no cluster
  --kube-version X.Y       with --dry-run: print the shape for that Kubernetes version (default: the newest)
  -o, --output FORMAT      with --dry-run: ${OUTPUTS.join(' | ')} (default yaml; json prints a v1 List)
  -h, --help               show this help

examples:
  exporter-injector register --dry-run -o yaml
  exporter-injector register --dry-run --kube-version 1.27 --label-gate
  exporter-injector register --ca-file certs/ca.crt --failure-policy Ignore
  exporter-injector register --ensure-secret exporter-injector-tls     # what the self-managed Job runs
`;

const UNREGISTER_HELP = `usage: exporter-injector unregister [flags]

Deletes the ValidatingAdmissionPolicyBinding and ValidatingAdmissionPolicy NAME-final-state and the
MutatingWebhookConfiguration NAME. Already absent is not an error (exit 0).

flags:
${CLUSTER_FLAGS}
  -h, --help               show this help
`;

const CLUSTER_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  name: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const REGISTER_OPTIONS = {
  ...CLUSTER_OPTIONS,
  service: { type: 'string' },
  namespace: { type: 'string' },
  path: { type: 'string' },
  port: { type: 'string' },
  'failure-policy': { type: 'string' },
  'validation-action': { type: 'string' },
  'kube-version': { type: 'string' },
  timeout: { type: 'string' },
  'label-gate': { type: 'boolean' },
  'ca-file': { type: 'string' },
  'ensure-secret': { type: 'string' },
  'dry-run': { type: 'boolean' },
  output: { type: 'string', short: 'o' },
} as const;

export const register: Command = async (argv: string[], io: CliIo): Promise<number> => {
  const values = parse('register', argv, REGISTER_OPTIONS);
  if (values.help) {
    io.stdout(REGISTER_HELP);
    return EXIT.OK;
  }
  const output = values.output ?? 'yaml';
  if (!(OUTPUTS as readonly string[]).includes(output)) {
    throw new InjectorError('EI_ERR_USAGE', `-o "${output}" is invalid; valid: ${OUTPUTS.join(', ')}`);
  }
  if (values.output !== undefined && !values['dry-run']) {
    throw new InjectorError('EI_ERR_USAGE', '-o prints the object and needs --dry-run; without it register prints what changed');
  }
  const secretName = values['ensure-secret'];
  if (secretName !== undefined) {
    if (values['dry-run']) throw new InjectorError('EI_ERR_USAGE', '--ensure-secret creates a Secret and cannot be used with --dry-run');
    if (values['ca-file'] !== undefined) throw new InjectorError('EI_ERR_USAGE', '--ensure-secret and --ca-file are two sources of the CA; give one');
    if (!isDnsSubdomain(secretName)) {
      throw new InjectorError('EI_ERR_USAGE', `--ensure-secret "${secretName}" is invalid; a Secret name is a DNS-1123 subdomain (lower-case letters, digits, '-', '.')`);
    }
  }
  // Checked before any file or cluster is touched, so a typo costs nothing.
  const options = resolveWebhookOptions(webhookOptions(values));
  const credentials = { kubeconfig: values.kubeconfig, context: values.context, env: io.env };

  const kubeVersion = parseKubeVersion(values['kube-version']);
  if (kubeVersion !== undefined && !values['dry-run']) {
    throw new InjectorError('EI_ERR_USAGE', '--kube-version picks the shape for --dry-run; without --dry-run register reads the version from the API server');
  }

  if (values['dry-run']) {
    const caBundle = await readCa(values['ca-file'], true, io);
    const desired = desiredAdmissionObjects({ ...options, caBundle }, kubeVersion);
    for (const notice of desired.notices) io.stderr(`note: ${notice}\n`);
    io.stdout(output === 'json' ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: desired.objects }, null, 2)}\n` : desired.objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
    return EXIT.OK;
  }

  const kc = requireKubeConfig(credentials);
  let caBundle: string | undefined;
  if (secretName !== undefined) {
    const secret = await ensureTlsSecret(kc, { namespace: options.namespace, name: secretName }, () => newTlsSecret(options, secretName));
    io.stdout(`secret/${secretName} in namespace ${options.namespace} ${secret.action === 'created' ? 'created (new CA and serving certificate)' : 'exists; using its ca.crt'}\n`);
    caBundle = secret.caCert;
  } else {
    caBundle = await readCa(values['ca-file'], false, io);
  }
  const version = await readClusterVersion(kc);
  const registration = await registerAdmission(kc, { ...options, caBundle }, version);
  for (const notice of registration.notices) io.stderr(`warning: ${notice}\n`);
  io.stdout(registration.results.map((r) => describeResult(r, serverOf(kc))).join(''));
  if (registration.results.every((r) => r.action === 'unchanged')) io.stdout(`nothing changed (Kubernetes ${version.gitVersion})\n`);
  return EXIT.OK;
};

export const unregister: Command = async (argv: string[], io: CliIo): Promise<number> => {
  const values = parse('unregister', argv, CLUSTER_OPTIONS);
  if (values.help) {
    io.stdout(UNREGISTER_HELP);
    return EXIT.OK;
  }
  const name = values.name ?? WEBHOOK_DEFAULTS.name;
  const kc = requireKubeConfig({ kubeconfig: values.kubeconfig, context: values.context, env: io.env });
  for (const result of await unregisterAdmission(kc, name)) {
    io.stdout(result.action === 'deleted' ? `${result.ref} deleted\n` : `${result.ref} not found at ${serverOf(kc)}; nothing to delete\n`);
  }
  return EXIT.OK;
};

function parse<T extends typeof CLUSTER_OPTIONS | typeof REGISTER_OPTIONS>(command: string, argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new InjectorError('EI_ERR_USAGE', `${command}: ${(e as Error).message}; see "exporter-injector ${command} --help"`, { cause: e });
  }
}

function webhookOptions(values: ReturnType<typeof parse<typeof REGISTER_OPTIONS>>): Partial<WebhookOptions> {
  const failurePolicy = values['failure-policy'];
  if (failurePolicy !== undefined && !(FAILURE_POLICIES as readonly string[]).includes(failurePolicy)) {
    throw new InjectorError('EI_ERR_USAGE', `--failure-policy "${failurePolicy}" is invalid; valid: ${FAILURE_POLICIES.join(', ')}`);
  }
  const validationAction = values['validation-action'];
  if (validationAction !== undefined && !(VALIDATION_ACTIONS as readonly string[]).includes(validationAction)) {
    throw new InjectorError('EI_ERR_USAGE', `--validation-action "${validationAction}" is invalid; valid: ${VALIDATION_ACTIONS.join(', ')}`);
  }
  return {
    name: values.name,
    service: values.service,
    namespace: values.namespace,
    path: values.path,
    port: integer(values.port, '--port', 1, 65535),
    failurePolicy: failurePolicy as FailurePolicyOption | undefined,
    validationAction: validationAction as ValidationAction | undefined,
    timeoutSeconds: integer(values.timeout, '--timeout', TIMEOUT_RANGE.min, TIMEOUT_RANGE.max),
    labelGate: values['label-gate'],
  };
}

function integer(raw: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new InjectorError('EI_ERR_USAGE', `${flag} "${raw}" is invalid; valid: a whole number from ${min} to ${max}`);
  return n;
}

/**
 * The CA in PEM. A dry-run without a CA file still prints the object (no caBundle: as cert-manager's
 * overlay has it), unless the file was named explicitly.
 */
async function readCa(explicit: string | undefined, dryRun: boolean, io: CliIo): Promise<string | undefined> {
  const file = explicit ?? DEFAULT_CA_FILE;
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (dryRun && explicit === undefined && code === 'ENOENT') {
      io.stderr(`note: ${file} does not exist; the printed object has no caBundle\n`);
      return undefined;
    }
    throw new InjectorError(
      'EI_ERR_INPUT_INVALID',
      `cannot read the CA certificate ${file}: ${code ?? (e as Error).message}; make one with "exporter-injector certs", or pass --ca-file or --ensure-secret`,
      { cause: e },
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new InjectorError('EI_ERR_INPUT_INVALID', `${file} has no PEM certificate (-----BEGIN CERTIFICATE-----); --ca-file takes the CA certificate, not a key`);
  }
  return pem;
}

function newTlsSecret({ service, namespace }: WebhookOptions, name: string): V1Secret {
  const ca = generateCa();
  const serving = issueServingCertificate(ca, { service, namespace });
  return secretManifest({ name, namespace, caCert: ca.cert, cert: serving.cert, key: serving.key });
}

function describeResult(result: ObjectResult, server: string): string {
  if (result.action === 'updated') return `${result.ref} updated at ${server}:\n${result.changes.map((c) => `  ${c}\n`).join('')}`;
  return `${result.ref} ${result.action} at ${server}\n`;
}

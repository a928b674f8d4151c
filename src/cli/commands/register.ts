// `exporter-injector register` / `unregister`: create-or-update or delete the admission objects: the
// MutatingWebhookConfiguration and the final-state ValidatingAdmissionPolicy with its binding.
import { readFile } from 'node:fs/promises';
import type { V1Secret } from '@kubernetes/client-node';
import { isDnsSubdomain } from '../../core/values.js';
import { InjectorError } from '../../errors.js';
import { requireKubeConfig, serverOf } from '../../kube/kubeconfig.js';
import { desiredAdmissionObjects, MATCH_CONDITIONS_SINCE, parseKubeVersion, VALIDATING_POLICY_SINCE } from '../../kube/admission-objects.js';
import { readClusterVersion } from '../../kube/cluster-version.js';
import { finalStatePolicyName } from '../../kube/final-state-policy.js';
import { registerAdmission, unregisterAdmission, type ObjectResult } from '../../kube/register.js';
import { ensureTlsSecret } from '../../kube/tls-secret.js';
import {
  FAILURE_POLICIES,
  LABEL_GATE_KEY,
  TIMEOUT_RANGE,
  VALIDATION_ACTIONS,
  WEBHOOK_DEFAULTS,
  resolveWebhookOptions,
  type WebhookOptions,
} from '../../kube/webhook-config.js';
import { generateCa, issueServingCertificate } from '../../tls/generate.js';
import { secretManifest } from '../../tls/secret.js';
import { type CommandSpec, type Flags, type FlagValues } from '../../config/flags.js';
import { defineCommand } from '../command.js';
import { EXIT, type CliIo } from '../io.js';
import { toYaml } from '../yaml-output.js';

const DEFAULT_CA_FILE = 'certs/ca.crt';
const OUTPUTS = ['yaml', 'json'] as const;

const CLUSTER_FLAGS = {
  kubeconfig: { type: 'string', value: 'FILE', help: 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, else in-cluster)' },
  context: { type: 'string', value: 'NAME', help: 'context of that kubeconfig (default: its current context)' },
  name: {
    type: 'string',
    value: 'NAME',
    help: `name of the MutatingWebhookConfiguration; the policy and binding are NAME-final-state (default ${WEBHOOK_DEFAULTS.name})`,
  },
} as const satisfies Flags;

const REGISTER_SPEC = {
  name: 'register',
  summary: 'create or update the admission objects (webhook configuration, final-state policy)',
  usage: '[flags]',
  description: [
    'Reads the cluster\'s version and creates or updates the admission objects it accepts (docs/admission.md):',
    `  Kubernetes >= ${MATCH_CONDITIONS_SINCE.major}.${MATCH_CONDITIONS_SINCE.minor}: the MutatingWebhookConfiguration with two webhooks, one per pod policy, whose`,
    '                  matchConditions send only opted-in pods, never mirror pods;',
    `  Kubernetes >= ${VALIDATING_POLICY_SINCE.major}.${VALIDATING_POLICY_SINCE.minor}: also the ValidatingAdmissionPolicy NAME-final-state and its binding, which flag an`,
    '                  opted-in pod admitted without the exporter-injector.io/status annotation;',
    '  older:          one webhook, failurePolicy Ignore, every pod in scope is sent (a warning says so).',
    'In the configuration our webhooks and labels are set; everything else on it (annotations, other labels,',
    'other webhooks) is kept. An update that races another writer (HTTP 409) is re-read and retried. Prints what',
    'changed, or "unchanged" for each object.',
    '',
    `Defaults: pods, CREATE only; timeoutSeconds ${WEBHOOK_DEFAULTS.timeoutSeconds}; reinvocationPolicy IfNeeded; sideEffects None;`,
    'namespaces kube-system, kube-public, kube-node-lease and --namespace are never sent.',
  ].join('\n'),
  flags: {
    service: { type: 'string', value: 'NAME', help: `Service in front of the webhook (default ${WEBHOOK_DEFAULTS.service})` },
    namespace: { type: 'string', value: 'NAME', help: `its namespace, also excluded from injection (default ${WEBHOOK_DEFAULTS.namespace})` },
    path: { type: 'string', value: 'PATH', help: `URL path serve answers on (default ${WEBHOOK_DEFAULTS.path})` },
    port: { type: 'string', value: 'N', help: `Service port (default ${WEBHOOK_DEFAULTS.port})` },
    'failure-policy': {
      type: 'string',
      value: 'POLICY',
      choices: FAILURE_POLICIES,
      help: `when the webhook cannot answer (default ${WEBHOOK_DEFAULTS.failurePolicy}): PerPod: pods with policy required wait (Fail), policy optional are created without the exporter (Ignore); Ignore or Fail: the same for every pod`,
    },
    'validation-action': {
      type: 'string',
      value: 'ACTION',
      choices: VALIDATION_ACTIONS,
      help: `what the final-state policy does with an opted-in pod that was not injected; both also write an audit annotation (default ${WEBHOOK_DEFAULTS.validationAction})`,
    },
    timeout: { type: 'string', value: 'SECONDS', help: `${TIMEOUT_RANGE.min}..${TIMEOUT_RANGE.max} (default ${WEBHOOK_DEFAULTS.timeoutSeconds})` },
    'label-gate': { type: 'boolean', help: `send only pods labelled ${LABEL_GATE_KEY}: "true" (clusters without matchConditions)` },
    'ca-file': { type: 'string', value: 'FILE', help: `PEM CA the API server trusts for the webhook (default ${DEFAULT_CA_FILE})` },
    'ensure-secret': {
      type: 'string',
      value: 'NAME',
      help: 'create the kubernetes.io/tls Secret NAME in --namespace if missing (new CA and serving certificate) and register with its ca.crt, instead of --ca-file',
    },
    ...CLUSTER_FLAGS,
    'dry-run': { type: 'boolean', help: 'print the objects instead of sending them; needs no cluster' },
    'kube-version': { type: 'string', value: 'X.Y', help: 'with --dry-run: print the shape for that Kubernetes version (default: the newest)' },
    output: { type: 'string', short: 'o', value: 'FORMAT', choices: OUTPUTS, help: 'with --dry-run: the format to print (default yaml; json prints a v1 List)' },
  },
  examples: [
    'exporter-injector register --dry-run -o yaml',
    'exporter-injector register --dry-run --kube-version 1.27 --label-gate',
    'exporter-injector register --ca-file certs/ca.crt --failure-policy Ignore',
    'exporter-injector register --ensure-secret exporter-injector-tls     # what the self-managed Job runs',
  ],
  exits: { 1: 'the cluster refused or could not be reached', 3: 'the CA file or kubeconfig cannot be read' },
} as const satisfies CommandSpec;

const UNREGISTER_SPEC = {
  name: 'unregister',
  summary: 'delete the admission objects',
  usage: '[flags]',
  description: 'Deletes the ValidatingAdmissionPolicyBinding and ValidatingAdmissionPolicy NAME-final-state and the MutatingWebhookConfiguration NAME. Already absent is not an error (exit 0).',
  flags: {
    ...CLUSTER_FLAGS,
    'dry-run': { type: 'boolean', help: 'print what would be deleted; needs no cluster' },
  },
  exits: { 1: 'the cluster refused or could not be reached' },
} as const satisfies CommandSpec;

export const register = defineCommand(REGISTER_SPEC, async ({ values }, io) => {
  const output = values.output ?? 'yaml';
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
    io.stdout(
      output === 'json'
        ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: desired.objects }, null, 2)}\n`
        : desired.objects.map((o) => toYaml(o)).join('---\n'),
    );
    return EXIT.OK;
  }

  const kc = requireKubeConfig(credentials, ' (or use --dry-run to print the objects)');
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
});

export const unregister = defineCommand(UNREGISTER_SPEC, async ({ values }, io) => {
  const name = values.name ?? WEBHOOK_DEFAULTS.name;
  if (values['dry-run']) {
    const policy = finalStatePolicyName(name);
    for (const ref of [`mutatingwebhookconfiguration/${name}`, `validatingadmissionpolicy/${policy}`, `validatingadmissionpolicybinding/${policy}`]) {
      io.stdout(`${ref} would be deleted (dry run)\n`);
    }
    return EXIT.OK;
  }
  const kc = requireKubeConfig({ kubeconfig: values.kubeconfig, context: values.context, env: io.env }, ' (or use --dry-run)');
  for (const result of await unregisterAdmission(kc, name)) {
    io.stdout(result.action === 'deleted' ? `${result.ref} deleted\n` : `${result.ref} not found at ${serverOf(kc)}; nothing to delete\n`);
  }
  return EXIT.OK;
});

function webhookOptions(values: FlagValues<typeof REGISTER_SPEC.flags>): Partial<WebhookOptions> {
  return {
    name: values.name,
    service: values.service,
    namespace: values.namespace,
    path: values.path,
    port: integer(values.port, '--port', 1, 65535),
    failurePolicy: values['failure-policy'],
    validationAction: values['validation-action'],
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
  if (explicit === undefined) {
    // The default file is usually the development CA that serve --dev or certs made: say which CA goes in.
    io.stderr(`note: caBundle from ${file} (the default --ca-file; made by "exporter-injector certs" or serve --dev); pass --ca-file for another CA\n`);
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

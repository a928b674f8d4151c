// `exporter-injector register` / `unregister`: create-or-update or delete the MutatingWebhookConfiguration.
import { readFile } from 'node:fs/promises';
import type { V1Secret } from '@kubernetes/client-node';
import { isDnsSubdomain } from '../../core/values.js';
import { InjectorError } from '../../errors.js';
import { requireKubeConfig, serverOf } from '../../kube/kubeconfig.js';
import { registerWebhook, unregisterWebhook, type RegisterResult } from '../../kube/register.js';
import { ensureTlsSecret } from '../../kube/tls-secret.js';
import {
  FAILURE_POLICIES,
  LABEL_GATE_KEY,
  TIMEOUT_RANGE,
  WEBHOOK_DEFAULTS,
  buildWebhookConfiguration,
  resolveWebhookOptions,
  type FailurePolicy,
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
  name: { type: 'string', value: 'NAME', help: `name of the MutatingWebhookConfiguration (default ${WEBHOOK_DEFAULTS.name})` },
} as const satisfies Flags;

const REGISTER_SPEC = {
  name: 'register',
  summary: 'create or update the MutatingWebhookConfiguration',
  usage: '[flags]',
  description: [
    'Creates the MutatingWebhookConfiguration, or updates it: our webhook (inject.exporter-injector.io) and our',
    'labels are set, everything else on the object (annotations, other labels, other webhooks) is kept. An update',
    'that races another writer (HTTP 409) is re-read and retried. Prints what changed.',
    '',
    `Defaults: pods, CREATE only; failurePolicy ${WEBHOOK_DEFAULTS.failurePolicy}; timeoutSeconds ${WEBHOOK_DEFAULTS.timeoutSeconds}; reinvocationPolicy IfNeeded;`,
    'sideEffects None; namespaces kube-system, kube-public, kube-node-lease and --namespace are never sent.',
  ].join('\n'),
  flags: {
    service: { type: 'string', value: 'NAME', help: `Service in front of the webhook (default ${WEBHOOK_DEFAULTS.service})` },
    namespace: { type: 'string', value: 'NAME', help: `its namespace, also excluded from injection (default ${WEBHOOK_DEFAULTS.namespace})` },
    path: { type: 'string', value: 'PATH', help: `URL path serve answers on (default ${WEBHOOK_DEFAULTS.path})` },
    port: { type: 'string', value: 'N', help: `Service port (default ${WEBHOOK_DEFAULTS.port})` },
    'failure-policy': { type: 'string', value: 'POLICY', choices: FAILURE_POLICIES, help: `what the API server does when the webhook fails (default ${WEBHOOK_DEFAULTS.failurePolicy})` },
    timeout: { type: 'string', value: 'SECONDS', help: `${TIMEOUT_RANGE.min}..${TIMEOUT_RANGE.max} (default ${WEBHOOK_DEFAULTS.timeoutSeconds})` },
    'label-gate': { type: 'boolean', help: `send only pods labelled ${LABEL_GATE_KEY}: "true" (large clusters)` },
    'ca-file': { type: 'string', value: 'FILE', help: `PEM CA the API server trusts for the webhook (default ${DEFAULT_CA_FILE})` },
    'ensure-secret': {
      type: 'string',
      value: 'NAME',
      help: 'create the kubernetes.io/tls Secret NAME in --namespace if missing (new CA and serving certificate) and register with its ca.crt, instead of --ca-file',
    },
    ...CLUSTER_FLAGS,
    'dry-run': { type: 'boolean', help: 'print the object instead of sending it; needs no cluster' },
    output: { type: 'string', short: 'o', value: 'FORMAT', choices: OUTPUTS, help: 'with --dry-run: the format to print (default yaml)' },
  },
  examples: [
    'exporter-injector register --dry-run -o yaml',
    'exporter-injector register --ca-file certs/ca.crt --label-gate',
    'exporter-injector register --ensure-secret exporter-injector-tls     # what the self-managed Job runs',
  ],
  exits: { 1: 'the cluster refused or could not be reached', 3: 'the CA file or kubeconfig cannot be read' },
} as const satisfies CommandSpec;

const UNREGISTER_SPEC = {
  name: 'unregister',
  summary: 'delete the MutatingWebhookConfiguration',
  usage: '[flags]',
  description: 'Deletes the MutatingWebhookConfiguration. Already absent is not an error (exit 0).',
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

  if (values['dry-run']) {
    const caBundle = await readCa(values['ca-file'], true, io);
    const object = buildWebhookConfiguration({ ...options, caBundle });
    io.stdout(output === 'json' ? `${JSON.stringify(object, null, 2)}\n` : toYaml(object));
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
  const result = await registerWebhook(kc, buildWebhookConfiguration({ ...options, caBundle }));
  io.stdout(describeResult(result, serverOf(kc)));
  return EXIT.OK;
});

export const unregister = defineCommand(UNREGISTER_SPEC, async ({ values }, io) => {
  const name = values.name ?? WEBHOOK_DEFAULTS.name;
  if (values['dry-run']) {
    io.stdout(`mutatingwebhookconfiguration/${name} would be deleted (dry run)\n`);
    return EXIT.OK;
  }
  const kc = requireKubeConfig({ kubeconfig: values.kubeconfig, context: values.context, env: io.env }, ' (or use --dry-run)');
  const result = await unregisterWebhook(kc, name);
  io.stdout(
    result.action === 'deleted'
      ? `mutatingwebhookconfiguration/${name} deleted\n`
      : `mutatingwebhookconfiguration/${name} not found at ${serverOf(kc)}; nothing to delete\n`,
  );
  return EXIT.OK;
});

function webhookOptions(values: FlagValues<typeof REGISTER_SPEC.flags>): Partial<WebhookOptions> {
  const failurePolicy = values['failure-policy'];
  return {
    name: values.name,
    service: values.service,
    namespace: values.namespace,
    path: values.path,
    port: integer(values.port, '--port', 1, 65535),
    failurePolicy: failurePolicy as FailurePolicy | undefined,
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

function describeResult(result: RegisterResult, server: string): string {
  const ref = `mutatingwebhookconfiguration/${result.name}`;
  if (result.action === 'created') return `${ref} created at ${server}\n`;
  if (result.action === 'unchanged') return `${ref} unchanged at ${server}\n`;
  return `${ref} updated at ${server}:\n${result.changes.map((c) => `  ${c}\n`).join('')}`;
}

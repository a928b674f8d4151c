// `exporter-injector check`: proves the installed webhook works, end to end (logic in kube/check.ts).
import { parseArgs } from 'node:util';
import { isDnsLabel, isDnsSubdomain } from '../../core/values.js';
import { InjectorError } from '../../errors.js';
import { CHECK_DEFAULTS, formatCheckText, runChecks } from '../../kube/check.js';
import { requireKubeConfig } from '../../kube/kubeconfig.js';
import { FAILURE_POLICIES, TIMEOUT_RANGE, WEBHOOK_DEFAULTS, resolveWebhookOptions, type FailurePolicy } from '../../kube/webhook-config.js';
import { DEFAULT_SECRET_NAME } from '../../tls/secret.js';
import { EXIT, type CliIo, type Command } from '../io.js';

const OUTPUTS = ['text', 'json'] as const;

const HELP = `usage: exporter-injector check [flags]

Proves the installed webhook works, one line per check (✓ passed, ! warning, ✗ failed with its fix,
- skipped because an earlier check failed):
  - the MutatingWebhookConfiguration exists and equals what register writes (differences listed);
  - its caBundle verifies the serving certificate in the TLS Secret, for <service>.<namespace>.svc;
  - days until that certificate expires (a warning under --expiry-warning-days);
  - the Deployment mounts that Secret and has ready replicas; the Service has ready endpoints;
  - end to end: a server-side dry-run create (dryRun=All: nothing is stored) of a pod that opts in to
    redis in --probe-namespace comes back with the exporter and the status annotation, and one that
    does not opt in comes back without injection.
Exit code: 0 when nothing failed (warnings allowed), 1 when a check failed or the cluster cannot be read.
Needs get on the objects above and create on pods in --probe-namespace (dry-run).

flags:
  --namespace NAME             namespace of the webhook (default ${WEBHOOK_DEFAULTS.namespace})
  --service NAME               its Service (default ${WEBHOOK_DEFAULTS.service})
  --deployment NAME            its Deployment (default ${CHECK_DEFAULTS.deployment})
  --secret NAME                its TLS Secret (default ${DEFAULT_SECRET_NAME})
  --probe-namespace NAME       where the dry-run probe pods are sent (default ${CHECK_DEFAULTS.probeNamespace})
  --expiry-warning-days N      warn when the serving certificate expires in fewer days (default ${CHECK_DEFAULTS.expiryWarningDays})
  -o, --output FORMAT          ${OUTPUTS.join(' | ')} (default text)
  the flags register was given, so "what register writes" is the same object:
  --name NAME                  the MutatingWebhookConfiguration (default ${WEBHOOK_DEFAULTS.name})
  --path PATH, --port N, --failure-policy ${FAILURE_POLICIES.join('|')}, --timeout SECONDS, --label-gate
  --kubeconfig FILE            kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, else in-cluster)
  --context NAME               context of that kubeconfig (default: its current context)
  -h, --help                   show this help

examples:
  exporter-injector check
  exporter-injector check --probe-namespace shop -o json
`;

const OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  name: { type: 'string' },
  namespace: { type: 'string' },
  service: { type: 'string' },
  deployment: { type: 'string' },
  secret: { type: 'string' },
  path: { type: 'string' },
  port: { type: 'string' },
  'failure-policy': { type: 'string' },
  timeout: { type: 'string' },
  'label-gate': { type: 'boolean' },
  'probe-namespace': { type: 'string' },
  'expiry-warning-days': { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const check: Command = async (argv: string[], io: CliIo): Promise<number> => {
  let values;
  try {
    values = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new InjectorError('EI_ERR_USAGE', `check: ${(e as Error).message}; see "exporter-injector check --help"`, { cause: e });
  }
  if (values.help) {
    io.stdout(HELP);
    return EXIT.OK;
  }
  const output = values.output ?? 'text';
  if (!(OUTPUTS as readonly string[]).includes(output)) throw new InjectorError('EI_ERR_USAGE', `-o "${output}" is invalid; valid: ${OUTPUTS.join(', ')}`);
  const failurePolicy = values['failure-policy'];
  if (failurePolicy !== undefined && !(FAILURE_POLICIES as readonly string[]).includes(failurePolicy)) {
    throw new InjectorError('EI_ERR_USAGE', `--failure-policy "${failurePolicy}" is invalid; valid: ${FAILURE_POLICIES.join(', ')}`);
  }
  const webhook = resolveWebhookOptions({
    name: values.name,
    service: values.service,
    namespace: values.namespace,
    path: values.path,
    port: wholeNumber(values.port, '--port', 1, 65535),
    failurePolicy: failurePolicy as FailurePolicy | undefined,
    timeoutSeconds: wholeNumber(values.timeout, '--timeout', TIMEOUT_RANGE.min, TIMEOUT_RANGE.max),
    labelGate: values['label-gate'],
  });
  const options = {
    webhook,
    deployment: objectName(values.deployment ?? CHECK_DEFAULTS.deployment, '--deployment'),
    secret: objectName(values.secret ?? DEFAULT_SECRET_NAME, '--secret'),
    probeNamespace: values['probe-namespace'] ?? CHECK_DEFAULTS.probeNamespace,
    expiryWarningDays: wholeNumber(values['expiry-warning-days'], '--expiry-warning-days', 0, 36500) ?? CHECK_DEFAULTS.expiryWarningDays,
  };
  if (!isDnsLabel(options.probeNamespace)) {
    throw new InjectorError('EI_ERR_USAGE', `--probe-namespace "${options.probeNamespace}" is invalid; a namespace is a DNS label (lower-case letters, digits, '-', at most 63)`);
  }
  // Checked before any cluster is touched, so a typo costs nothing.
  const kc = requireKubeConfig({ kubeconfig: values.kubeconfig, context: values.context, env: io.env });
  const report = await runChecks(kc, options);
  io.stdout(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatCheckText(report));
  return report.ok ? EXIT.OK : EXIT.FAILED;
};

function objectName(name: string, flag: string): string {
  if (!isDnsSubdomain(name)) throw new InjectorError('EI_ERR_USAGE', `${flag} "${name}" is invalid; a name is a DNS-1123 subdomain (lower-case letters, digits, '-', '.')`);
  return name;
}

function wholeNumber(raw: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new InjectorError('EI_ERR_USAGE', `${flag} "${raw}" is invalid; valid: a whole number from ${min} to ${max}`);
  return n;
}

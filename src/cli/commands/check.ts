// `exporter-injector check`: proves the installed webhook works, end to end (logic in kube/check.ts).
import type { CommandSpec } from '../../config/flags.js';
import { isDnsLabel, isDnsSubdomain } from '../../core/values.js';
import { EXIT, InjectorError } from '../../errors.js';
import { CHECK_DEFAULTS, formatCheckText, runChecks } from '../../kube/check.js';
import { requireKubeConfig } from '../../kube/kubeconfig.js';
import { FAILURE_POLICIES, TIMEOUT_RANGE, VALIDATION_ACTIONS, WEBHOOK_DEFAULTS, resolveWebhookOptions } from '../../kube/webhook-config.js';
import { DEFAULT_SECRET_NAME } from '../../tls/secret.js';
import { defineCommand } from '../command.js';

const OUTPUTS = ['text', 'json'] as const;

const CHECK_SPEC = {
  name: 'check',
  summary: 'prove the installed webhook works, end to end (dry-run probe pods)',
  usage: '[flags]',
  description: [
    'Proves the installed webhook works, one line per check (✓ passed, ! warning, ✗ failed with its fix,',
    '- skipped because what it needs is missing):',
    '  - the MutatingWebhookConfiguration (and, from Kubernetes 1.30, the final-state ValidatingAdmissionPolicy',
    '    and its binding) exist and equal what register writes for this cluster version (differences listed);',
    '  - its caBundle verifies the serving certificate in the TLS Secret, for <service>.<namespace>.svc;',
    '  - days until that certificate expires (a warning under --expiry-warning-days);',
    '  - the Deployment mounts that Secret and has ready replicas; the Service has ready endpoints;',
    '  - end to end: a server-side dry-run create (dryRun=All: nothing is stored) of a pod that opts in to',
    '    redis in --probe-namespace comes back with the exporter and the status annotation, and one that',
    '    does not opt in comes back without injection (with matchConditions it is not even sent).',
    'Give it the flags register was given (--name, --path, --port, --failure-policy, --timeout, --label-gate,',
    '--validation-action), so "what register writes" is the same. Needs get on those objects and create on pods in',
    '--probe-namespace (a dry run is authorized like a create). docs/operations.md: troubleshooting by ✗ line.',
  ].join('\n'),
  flags: {
    namespace: { type: 'string', value: 'NAME', help: 'namespace of the webhook', shownDefault: WEBHOOK_DEFAULTS.namespace },
    service: { type: 'string', value: 'NAME', help: 'its Service', shownDefault: WEBHOOK_DEFAULTS.service },
    deployment: { type: 'string', value: 'NAME', help: 'its Deployment', default: CHECK_DEFAULTS.deployment },
    secret: { type: 'string', value: 'NAME', help: 'its TLS Secret', default: DEFAULT_SECRET_NAME },
    'probe-namespace': { type: 'string', value: 'NAME', help: 'where the dry-run probe pods are sent', default: CHECK_DEFAULTS.probeNamespace },
    'expiry-warning-days': { type: 'string', value: 'N', help: 'warn when the serving certificate expires in fewer days', default: String(CHECK_DEFAULTS.expiryWarningDays) },
    output: { type: 'string', short: 'o', value: 'FORMAT', choices: OUTPUTS, help: 'text, or json for scripts', default: 'text' },
    name: { type: 'string', value: 'NAME', help: 'the MutatingWebhookConfiguration (as given to register)', shownDefault: WEBHOOK_DEFAULTS.name },
    path: { type: 'string', value: 'PATH', help: 'as given to register', shownDefault: WEBHOOK_DEFAULTS.path },
    port: { type: 'string', value: 'N', help: 'as given to register', shownDefault: String(WEBHOOK_DEFAULTS.port) },
    'failure-policy': { type: 'string', value: 'POLICY', choices: FAILURE_POLICIES, help: 'as given to register', shownDefault: WEBHOOK_DEFAULTS.failurePolicy },
    timeout: { type: 'string', value: 'SECONDS', help: 'as given to register', shownDefault: String(WEBHOOK_DEFAULTS.timeoutSeconds) },
    'label-gate': { type: 'boolean', help: 'as given to register' },
    'validation-action': { type: 'string', value: 'ACTION', choices: VALIDATION_ACTIONS, help: 'as given to register', shownDefault: WEBHOOK_DEFAULTS.validationAction },
    kubeconfig: { type: 'string', value: 'FILE', help: 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, else in-cluster)' },
    context: { type: 'string', value: 'NAME', help: 'context of that kubeconfig (default: its current context)' },
  },
  examples: ['exporter-injector check', 'exporter-injector check --probe-namespace shop -o json'],
  exits: { 0: 'every check passed (warnings allowed)', 1: 'a check failed, or the cluster cannot be read' },
} as const satisfies CommandSpec;

export const check = defineCommand(CHECK_SPEC, async ({ values }, io) => {
  // Checked before any cluster is touched, so a typo costs nothing.
  const webhook = resolveWebhookOptions({
    name: values.name,
    service: values.service,
    namespace: values.namespace,
    path: values.path,
    port: wholeNumber(values.port, '--port', 1, 65535),
    failurePolicy: values['failure-policy'],
    timeoutSeconds: wholeNumber(values.timeout, '--timeout', TIMEOUT_RANGE.min, TIMEOUT_RANGE.max),
    labelGate: values['label-gate'],
    validationAction: values['validation-action'],
  });
  const probeNamespace = values['probe-namespace'];
  if (!isDnsLabel(probeNamespace)) {
    throw new InjectorError('EI_ERR_USAGE', `--probe-namespace "${probeNamespace}" is invalid; a namespace is a DNS label (lower-case letters, digits, '-', at most 63)`);
  }
  const options = {
    webhook,
    deployment: objectName(values.deployment, '--deployment'),
    secret: objectName(values.secret, '--secret'),
    probeNamespace,
    expiryWarningDays: wholeNumber(values['expiry-warning-days'], '--expiry-warning-days', 0, 36500) ?? CHECK_DEFAULTS.expiryWarningDays,
  };
  const kc = requireKubeConfig({ kubeconfig: values.kubeconfig, context: values.context, env: io.env });
  const report = await runChecks(kc, options);
  io.stdout(values.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatCheckText(report));
  return report.ok ? EXIT.OK : EXIT.FAILED;
});

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

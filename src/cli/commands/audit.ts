// `exporter-injector audit`: opted-in pods that missed injection or drifted, by workload; --restart rolls them
// (logic in kube/audit.ts and kube/audit-findings.ts).
import type { CommandSpec } from '../../config/flags.js';
import { isDnsLabel, isDnsSubdomain } from '../../core/values.js';
import { EXIT, InjectorError } from '../../errors.js';
import { AUDIT_DEFAULTS, RESTARTED_AT, auditDocument, formatAuditTable, restartWorkloads, runAudit } from '../../kube/audit.js';
import { requireKubeConfig } from '../../kube/kubeconfig.js';
import { WEBHOOK_DEFAULTS } from '../../kube/webhook-config.js';
import { defineCommand } from '../command.js';
import { toYaml } from '../yaml-output.js';

const OUTPUTS = ['table', 'json', 'yaml'] as const;
const MAX_PAGE_SIZE = 5000;

const AUDIT_SPEC = {
  name: 'audit',
  summary: 'list opted-in pods that missed injection or drifted, by workload; --restart rolls them',
  usage: '[flags]',
  description: [
    'Lists the pods that opted in (exporter-injector.io/inject) and',
    '  - have no injection (no exporter-injector.io/status annotation), with the likely reason: no webhook',
    '    configuration, namespace excluded by its namespaceSelector, label gate missing, created before the',
    '    configuration existed, policy optional and a problem occurred (named), or the webhook did not answer;',
    '  - or were injected from a template whose version or hash differs from the current registry (the',
    '    built-ins plus --templates, the same registry serve loads), with what changed.',
    'Findings are grouped by workload (Pod -> ReplicaSet -> Deployment, StatefulSet, DaemonSet, Job -> CronJob).',
    'Finished pods (Succeeded, Failed) are not reported. Pods are read in pages of --page-size.',
    '',
    '--restart rolls every affected Deployment, StatefulSet and DaemonSet as "kubectl rollout restart" does',
    `(pod template annotation ${RESTARTED_AT}), and patches a CronJob's jobTemplate so its next`,
    "Jobs get the exporter. Bare pods, lone ReplicaSets and Jobs are listed, never touched; so are workloads whose",
    'cause remains (namespace excluded, label gate, no configuration, a problem in the opt-in): fix it first.',
    'Never prompts. docs/operations.md has examples.',
  ].join('\n'),
  flags: {
    namespace: { type: 'string', short: 'n', value: 'NAME', help: 'audit one namespace (default: all namespaces)' },
    templates: { type: 'string', value: 'DIR', help: 'user templates on top of the built-ins, as given to serve' },
    name: { type: 'string', value: 'NAME', help: 'the MutatingWebhookConfiguration whose selectors explain misses', default: WEBHOOK_DEFAULTS.name },
    'page-size': { type: 'string', value: 'N', help: `pods per list request, 1..${MAX_PAGE_SIZE}`, default: String(AUDIT_DEFAULTS.pageSize) },
    restart: { type: 'boolean', help: 'roll the affected workloads' },
    'dry-run': { type: 'boolean', help: 'with --restart: say what would be restarted, send nothing' },
    output: { type: 'string', short: 'o', value: 'FORMAT', choices: OUTPUTS, help: 'table, or json / yaml listing every pod', default: 'table' },
    kubeconfig: { type: 'string', value: 'FILE', help: 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, else in-cluster)' },
    context: { type: 'string', value: 'NAME', help: 'context of that kubeconfig (default: its current context)' },
  },
  examples: ['exporter-injector audit', 'exporter-injector audit -n shop -o json', 'exporter-injector audit --templates ./templates --restart --dry-run'],
  exits: {
    0: 'no findings',
    1: 'findings remain (without --restart: any; with it: in workloads not restarted, or all with --dry-run), or a call to the cluster failed',
    3: 'the --templates directory is invalid',
  },
} as const satisfies CommandSpec;

export const audit = defineCommand(AUDIT_SPEC, async ({ values }, io) => {
  if (values['dry-run'] && !values.restart) throw new InjectorError('EI_ERR_USAGE', 'audit: --dry-run goes with --restart (audit itself changes nothing)');
  if (values.namespace !== undefined && !isDnsLabel(values.namespace)) {
    throw new InjectorError('EI_ERR_USAGE', `audit: -n "${values.namespace}" is invalid; a namespace is a DNS label (lower-case letters, digits, '-', at most 63)`);
  }
  if (!isDnsSubdomain(values.name)) throw new InjectorError('EI_ERR_USAGE', `audit: --name "${values.name}" is invalid; a name is a DNS-1123 subdomain`);
  const pageText = values['page-size'];
  const pageSize = /^\d+$/.test(pageText) ? Number(pageText) : NaN;
  if (!(pageSize >= 1 && pageSize <= MAX_PAGE_SIZE)) throw new InjectorError('EI_ERR_USAGE', `audit: --page-size "${pageText}" is invalid; valid: a whole number from 1 to ${MAX_PAGE_SIZE}`);

  const kc = requireKubeConfig({ kubeconfig: values.kubeconfig, context: values.context, env: io.env });
  const report = await runAudit(kc, { namespace: values.namespace, pageSize, configurationName: values.name, templatesDir: values.templates });
  const restarts = values.restart ? await restartWorkloads(kc, report.workloads, { dryRun: values['dry-run'] }) : undefined;
  const output = values.output;
  io.stdout(output === 'table' ? formatAuditTable(report, restarts) : output === 'json' ? `${JSON.stringify(auditDocument(report, restarts), null, 2)}\n` : toYaml(auditDocument(report, restarts)));
  const remaining = restarts === undefined ? report.findings : restarts.filter((r) => r.action !== 'restarted').length;
  return remaining === 0 ? EXIT.OK : EXIT.FAILED;
});

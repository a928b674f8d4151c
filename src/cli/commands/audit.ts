// `exporter-injector audit`: opted-in pods that missed injection or drifted, by workload; --restart rolls them
// (logic in kube/audit.ts and kube/audit-findings.ts).
import { parseArgs } from 'node:util';
import { isDnsLabel, isDnsSubdomain } from '../../core/values.js';
import { InjectorError } from '../../errors.js';
import { AUDIT_DEFAULTS, RESTARTED_AT, formatAudit, restartWorkloads, runAudit } from '../../kube/audit.js';
import { requireKubeConfig } from '../../kube/kubeconfig.js';
import { WEBHOOK_DEFAULTS } from '../../kube/webhook-config.js';
import { EXIT, type CliIo, type Command } from '../io.js';

const OUTPUTS = ['table', 'json', 'yaml'] as const;
const MAX_PAGE_SIZE = 5000;

const HELP = `usage: exporter-injector audit [flags]

Lists the pods that opted in (exporter-injector.io/inject) and
  - have no injection (no exporter-injector.io/status annotation), with the likely reason: no webhook
    configuration, namespace excluded by its namespaceSelector, label gate missing, created before the
    configuration existed, policy optional and a problem occurred (named), or the webhook did not answer;
  - or were injected from a template whose version or hash differs from the current registry (the
    built-ins plus --templates, the same registry serve loads), with what changed.
Findings are grouped by workload (Pod -> ReplicaSet -> Deployment, StatefulSet, DaemonSet, Job -> CronJob).
Finished pods (Succeeded, Failed) are not reported. Pods are read in pages of --page-size.

--restart rolls every affected Deployment, StatefulSet and DaemonSet as "kubectl rollout restart" does
(pod template annotation ${RESTARTED_AT}), and patches a CronJob's jobTemplate so its next
Jobs get the exporter. Bare pods, lone ReplicaSets and Jobs are listed, never touched; so are workloads whose
cause remains (namespace excluded, label gate, no configuration, a problem in the opt-in): fix it first.
Never prompts.

Exit code: 0 no findings; 1 findings remain (without --restart: any; with --restart: in workloads it
could not or did not restart, or with --dry-run); 2 bad flags; 3 invalid --templates.

flags:
  -n, --namespace NAME     audit one namespace (default: all namespaces)
  --templates DIR          user templates on top of the built-ins, as given to serve
  --name NAME              the MutatingWebhookConfiguration whose selectors explain misses (default ${WEBHOOK_DEFAULTS.name})
  --page-size N            pods per list request, 1..${MAX_PAGE_SIZE} (default ${AUDIT_DEFAULTS.pageSize})
  --restart                roll the affected workloads
  --dry-run                with --restart: say what would be restarted, send nothing
  -o, --output FORMAT      ${OUTPUTS.join(' | ')} (default table)
  --kubeconfig FILE        kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, else in-cluster)
  --context NAME           context of that kubeconfig (default: its current context)
  -h, --help               show this help

examples:
  exporter-injector audit
  exporter-injector audit -n shop -o json
  exporter-injector audit --templates ./templates --restart --dry-run
`;

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  templates: { type: 'string' },
  name: { type: 'string' },
  'page-size': { type: 'string' },
  restart: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const audit: Command = async (argv: string[], io: CliIo): Promise<number> => {
  let values;
  try {
    values = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new InjectorError('EI_ERR_USAGE', `audit: ${(e as Error).message}; see "exporter-injector audit --help"`, { cause: e });
  }
  if (values.help) {
    io.stdout(HELP);
    return EXIT.OK;
  }
  const output = values.output ?? 'table';
  if (!(OUTPUTS as readonly string[]).includes(output)) throw new InjectorError('EI_ERR_USAGE', `-o "${output}" is invalid; valid: ${OUTPUTS.join(', ')}`);
  if (values['dry-run'] && !values.restart) throw new InjectorError('EI_ERR_USAGE', '--dry-run goes with --restart (audit itself changes nothing)');
  if (values.namespace !== undefined && !isDnsLabel(values.namespace)) {
    throw new InjectorError('EI_ERR_USAGE', `-n "${values.namespace}" is invalid; a namespace is a DNS label (lower-case letters, digits, '-', at most 63)`);
  }
  const configurationName = values.name ?? WEBHOOK_DEFAULTS.name;
  if (!isDnsSubdomain(configurationName)) throw new InjectorError('EI_ERR_USAGE', `--name "${configurationName}" is invalid; a name is a DNS-1123 subdomain`);
  const pageText = values['page-size'];
  const pageSize = pageText === undefined ? AUDIT_DEFAULTS.pageSize : /^\d+$/.test(pageText) ? Number(pageText) : NaN;
  if (!(pageSize >= 1 && pageSize <= MAX_PAGE_SIZE)) throw new InjectorError('EI_ERR_USAGE', `--page-size "${pageText}" is invalid; valid: a whole number from 1 to ${MAX_PAGE_SIZE}`);

  const kc = requireKubeConfig({ kubeconfig: values.kubeconfig, context: values.context, env: io.env });
  const report = await runAudit(kc, { namespace: values.namespace, pageSize, configurationName, templatesDir: values.templates });
  const restarts = values.restart ? await restartWorkloads(kc, report.workloads, { dryRun: values['dry-run'] === true }) : undefined;
  io.stdout(formatAudit(report, restarts, output as (typeof OUTPUTS)[number]));
  const remaining = restarts === undefined ? report.findings : restarts.filter((r) => r.action !== 'restarted').length;
  return remaining === 0 ? EXIT.OK : EXIT.FAILED;
};

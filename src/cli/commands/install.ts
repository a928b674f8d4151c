// `exporter-injector install`: prints the whole install for a namespace and release name, for kubectl apply -f -.
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { InjectorError } from '../../errors.js';
import { parseKubeVersion } from '../../kube/admission-objects.js';
import { INSTALL_DEFAULTS, installObjects, type CertificateSource } from '../../kube/install.js';
import { FAILURE_POLICIES, VALIDATION_ACTIONS, type FailurePolicyOption, type ValidationAction } from '../../kube/webhook-config.js';
import { EXIT, type CliIo, type Command } from '../io.js';

const OUTPUTS = ['yaml', 'json'] as const;

const HELP = `usage: exporter-injector install [flags] | kubectl apply -f -

Prints every object of an install: the namespace, the webhook (2 replicas, PodDisruptionBudget, spread over
nodes and zones), its certificates, the admission objects register would write for --kube-version, and
optionally the prometheus-operator monitors. Every cross-reference (Service and webhook clientConfig, the
namespace the webhook never injects, certificate DNS names, cert-manager's inject-ca-from, RBAC subjects,
the setup Job's arguments, the monitors) follows --namespace and --name. Nothing is sent to a cluster.

flags:
  -n, --namespace NAME       namespace of the install, never injected (default ${INSTALL_DEFAULTS.namespace})
  --name NAME                release name: names every object, so several installs coexist (default ${INSTALL_DEFAULTS.name})
  --cert-manager             certificates from cert-manager (installed separately; the default)
  --self-managed             certificates from a Job that runs "register --ensure-secret" (no cert-manager)
  --image REF                the webhook image (default ${INSTALL_DEFAULTS.image})
  --kube-version X.Y         the cluster's version: < 1.28 gets the legacy webhook, < 1.30 no final-state
                             policy (default: the newest shape)
  --failure-policy POLICY    ${FAILURE_POLICIES.join(' | ')} (default ${INSTALL_DEFAULTS.failurePolicy}; see register --help)
  --validation-action A      ${VALIDATION_ACTIONS.join(' | ')} (default ${INSTALL_DEFAULTS.validationAction})
  --label-gate               send only pods labelled exporter-injector.io/enabled: "true"
  --existing-namespace       the namespace exists: print no Namespace object (the printed one enforces the
                             restricted Pod Security Standard on everything in it)
  --monitoring               add a PodMonitor (injected exporters) and a ServiceMonitor (the webhook)
  -o, --output FORMAT        ${OUTPUTS.join(' | ')} (default yaml; json prints a v1 List)
  -h, --help                 show this help

examples:
  exporter-injector install | kubectl apply -f -
  exporter-injector install -n monitoring --name ei --self-managed --kube-version 1.29 | kubectl apply -f -
`;

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  name: { type: 'string' },
  'cert-manager': { type: 'boolean' },
  'self-managed': { type: 'boolean' },
  image: { type: 'string' },
  'kube-version': { type: 'string' },
  'failure-policy': { type: 'string' },
  'validation-action': { type: 'string' },
  'label-gate': { type: 'boolean' },
  monitoring: { type: 'boolean' },
  'existing-namespace': { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const install: Command = async (argv: string[], io: CliIo): Promise<number> => {
  let values;
  try {
    values = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new InjectorError('EI_ERR_USAGE', `install: ${(e as Error).message}; see "exporter-injector install --help"`, { cause: e });
  }
  if (values.help) {
    io.stdout(HELP);
    return EXIT.OK;
  }
  const output = values.output ?? 'yaml';
  if (!(OUTPUTS as readonly string[]).includes(output)) throw new InjectorError('EI_ERR_USAGE', `-o "${output}" is invalid; valid: ${OUTPUTS.join(', ')}`);
  if (values['cert-manager'] && values['self-managed']) throw new InjectorError('EI_ERR_USAGE', '--cert-manager and --self-managed are two sources of certificates; give one');
  const certificates: CertificateSource = values['self-managed'] ? 'self-managed' : 'cert-manager';
  const failurePolicy = oneOf('--failure-policy', values['failure-policy'], FAILURE_POLICIES) as FailurePolicyOption | undefined;
  const validationAction = oneOf('--validation-action', values['validation-action'], VALIDATION_ACTIONS) as ValidationAction | undefined;
  if (values.image !== undefined && !/^[^\s]+$/.test(values.image)) throw new InjectorError('EI_ERR_USAGE', `--image "${values.image}" is invalid; valid: an image reference such as registry.example.com/exporter-injector:0.1.0`);

  const result = installObjects(
    {
      namespace: values.namespace,
      name: values.name,
      certificates,
      image: values.image,
      monitoring: values.monitoring,
      existingNamespace: values['existing-namespace'],
      failurePolicy,
      validationAction,
      labelGate: values['label-gate'],
    },
    parseKubeVersion(values['kube-version']),
  );
  for (const notice of result.notices) io.stderr(`note: ${notice}\n`);
  io.stdout(output === 'json' ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: result.objects }, null, 2)}\n` : result.objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
  return EXIT.OK;
};

function oneOf(flag: string, value: string | undefined, valid: readonly string[]): string | undefined {
  if (value !== undefined && !valid.includes(value)) throw new InjectorError('EI_ERR_USAGE', `${flag} "${value}" is invalid; valid: ${valid.join(', ')}`);
  return value;
}

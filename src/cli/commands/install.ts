// `exporter-injector install`: prints the whole install for a namespace and release name, for kubectl apply -f -.
import { InjectorError } from '../../errors.js';
import { parseKubeVersion } from '../../kube/admission-objects.js';
import { INSTALL_DEFAULTS, installObjects } from '../../kube/install.js';
import { FAILURE_POLICIES, VALIDATION_ACTIONS } from '../../kube/webhook-config.js';
import type { CommandSpec } from '../../config/flags.js';
import { defineCommand } from '../command.js';
import { EXIT } from '../io.js';
import { toYaml } from '../yaml-output.js';

const OUTPUTS = ['yaml', 'json'] as const;

const INSTALL_SPEC = {
  name: 'install',
  summary: 'print the whole install for a namespace and name (kubectl apply -f -)',
  usage: '[flags] | kubectl apply -f -',
  description: [
    'Prints every object of an install: the namespace, the webhook (2 replicas, PodDisruptionBudget, spread over',
    'nodes and zones), its certificates, the admission objects register would write for --kube-version, and',
    'optionally the prometheus-operator monitors. Every cross-reference (Service and webhook clientConfig, the',
    "namespace the webhook never injects, certificate DNS names, cert-manager's inject-ca-from, RBAC subjects,",
    "the setup Job's arguments, the monitors) follows --namespace and --name. Nothing is sent to a cluster.",
  ].join('\n'),
  flags: {
    namespace: { type: 'string', short: 'n', value: 'NAME', help: `namespace of the install, never injected (default ${INSTALL_DEFAULTS.namespace})` },
    name: { type: 'string', value: 'NAME', help: `release name: names every object, so several installs coexist (default ${INSTALL_DEFAULTS.name})` },
    'cert-manager': { type: 'boolean', help: 'certificates from cert-manager (installed separately; the default)' },
    'self-managed': { type: 'boolean', help: 'certificates from a Job that runs "register --ensure-secret" (no cert-manager)' },
    image: { type: 'string', value: 'REF', help: `the webhook image (default ${INSTALL_DEFAULTS.image})` },
    'kube-version': { type: 'string', value: 'X.Y', help: "the cluster's version: < 1.28 gets the legacy webhook, < 1.30 no final-state policy (default: the newest shape)" },
    'failure-policy': { type: 'string', value: 'POLICY', choices: FAILURE_POLICIES, help: `when the webhook cannot answer (default ${INSTALL_DEFAULTS.failurePolicy}; see register --help)` },
    'validation-action': { type: 'string', value: 'ACTION', choices: VALIDATION_ACTIONS, help: `the final-state policy's action (default ${INSTALL_DEFAULTS.validationAction})` },
    'label-gate': { type: 'boolean', help: 'send only pods labelled exporter-injector.io/enabled: "true"' },
    'existing-namespace': {
      type: 'boolean',
      help: 'the namespace exists: print no Namespace object (the printed one enforces the restricted Pod Security Standard on everything in it)',
    },
    monitoring: { type: 'boolean', help: 'add a PodMonitor (injected exporters) and a ServiceMonitor (the webhook)' },
    output: { type: 'string', short: 'o', value: 'FORMAT', choices: OUTPUTS, help: 'the format to print (default yaml; json prints a v1 List)' },
  },
  examples: [
    'exporter-injector install | kubectl apply -f -',
    'exporter-injector install -n monitoring --name ei --self-managed --kube-version 1.29 --existing-namespace | kubectl apply -f -',
  ],
  exits: {},
} as const satisfies CommandSpec;

export const install = defineCommand(INSTALL_SPEC, async ({ values }, io) => {
  if (values['cert-manager'] && values['self-managed']) throw new InjectorError('EI_ERR_USAGE', '--cert-manager and --self-managed are two sources of certificates; give one');
  if (values.image !== undefined && !/^\S+$/.test(values.image)) {
    throw new InjectorError('EI_ERR_USAGE', `--image "${values.image}" is invalid; valid: an image reference such as registry.example.com/exporter-injector:0.1.0`);
  }
  const result = installObjects(
    {
      namespace: values.namespace,
      name: values.name,
      certificates: values['self-managed'] ? 'self-managed' : 'cert-manager',
      image: values.image,
      monitoring: values.monitoring,
      existingNamespace: values['existing-namespace'],
      failurePolicy: values['failure-policy'],
      validationAction: values['validation-action'],
      labelGate: values['label-gate'],
    },
    parseKubeVersion(values['kube-version']),
  );
  for (const notice of result.notices) io.stderr(`note: ${notice}\n`);
  io.stdout(
    (values.output ?? 'yaml') === 'json'
      ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: result.objects }, null, 2)}\n`
      : result.objects.map((o) => toYaml(o)).join('---\n'),
  );
  return EXIT.OK;
});

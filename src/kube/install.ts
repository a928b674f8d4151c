// kube edge: the whole install (namespace, webhook Deployment, Service, certificates, admission objects,
// monitors) for any namespace and release name, as `exporter-injector install` prints it. Every
// cross-reference is derived here from the two choices, so none can be forgotten; deploy/ is the same set
// for the defaults, checked object for object against this code (test/deploy). Pure: no I/O.
import { podMonitorEndpoints } from './pod-monitor.js';
import type { KubernetesObject } from '@kubernetes/client-node';
import { serviceDnsNames } from '../tls/generate.js';
import { desiredAdmissionObjects, type KubeVersion } from './admission-objects.js';
import { finalStatePolicyName } from './final-state-policy.js';
import { CONFIG_LABELS, resolveWebhookOptions, WEBHOOK_DEFAULTS, type WebhookOptions } from './webhook-config.js';

/** The image `install` runs by default: this release's (deploy/'s kustomizations set the same tag). */
export const DEFAULT_IMAGE = 'exporter-injector:0.1.0';
export const CERTIFICATE_SOURCES = ['cert-manager', 'self-managed'] as const;
export type CertificateSource = (typeof CERTIFICATE_SOURCES)[number];

export interface InstallOptions {
  /** Namespace of everything namespaced; excluded from injection. */
  readonly namespace: string;
  /** The release name: names every object (Service, Deployment, configuration, policy, ...), so installs coexist. */
  readonly name: string;
  readonly certificates: CertificateSource;
  readonly image: string;
  /** PodMonitor for the injected exporters and ServiceMonitor for the webhook (prometheus-operator CRDs). */
  readonly monitoring: boolean;
  /** The namespace exists already: print no Namespace object, so its labels (Pod Security level) stay as they are. */
  readonly existingNamespace: boolean;
  readonly failurePolicy: WebhookOptions['failurePolicy'];
  readonly validationAction: WebhookOptions['validationAction'];
  readonly labelGate: boolean;
  readonly timeoutSeconds: number;
}

export const INSTALL_DEFAULTS: InstallOptions = Object.freeze({
  namespace: WEBHOOK_DEFAULTS.namespace,
  name: WEBHOOK_DEFAULTS.name,
  certificates: 'cert-manager',
  image: DEFAULT_IMAGE,
  monitoring: false,
  existingNamespace: false,
  failurePolicy: WEBHOOK_DEFAULTS.failurePolicy,
  validationAction: WEBHOOK_DEFAULTS.validationAction,
  labelGate: WEBHOOK_DEFAULTS.labelGate,
  timeoutSeconds: WEBHOOK_DEFAULTS.timeoutSeconds,
});

/** Where serve reads its certificate and extra templates in the pod. */
export const MOUNTS = Object.freeze({ tls: '/etc/exporter-injector/tls', templates: '/etc/exporter-injector/templates' });
const RESTRICTED_UID = 65532;
const COMPONENT = 'app.kubernetes.io/component';
const INSTANCE = 'app.kubernetes.io/instance';

// Loosely typed on purpose: the objects go to YAML, and several (cert-manager, prometheus-operator) have no client-node type.
type Obj = KubernetesObject & Record<string, unknown>;

/** Names of the objects an install creates, all derived from the release name. */
export function installNames(name: string) {
  return {
    service: name,
    deployment: name,
    serviceAccount: name,
    tlsSecret: `${name}-tls`,
    templates: `${name}-templates`,
    setup: `${name}-setup`,
    caSecret: `${name}-ca`,
    selfSignedIssuer: `${name}-selfsigned`,
    caIssuer: `${name}-ca`,
    caCertificate: `${name}-ca`,
    servingCertificate: `${name}-serving`,
    podMonitor: `${name}-exporters`,
    serviceMonitor: name,
    policy: finalStatePolicyName(name),
  };
}

export interface Install {
  readonly objects: readonly Obj[];
  readonly notices: readonly string[];
}

/**
 * Every object of an install, in apply order. `clusterVersion` picks the admission shape (undefined: the
 * newest). Throws EI_ERR_CONFIG_INVALID for an invalid namespace, name or webhook option.
 */
export function installObjects(partial: Partial<InstallOptions> = {}, clusterVersion?: KubeVersion): Install {
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const o: InstallOptions = { ...INSTALL_DEFAULTS, ...defined };
  const names = installNames(o.name);
  // The webhook options are the ones register uses; resolving them validates namespace and name too.
  const webhook = resolveWebhookOptions({
    name: o.name,
    service: names.service,
    namespace: o.namespace,
    failurePolicy: o.failurePolicy,
    validationAction: o.validationAction,
    labelGate: o.labelGate,
    timeoutSeconds: o.timeoutSeconds,
  });
  const admission = desiredAdmissionObjects(webhook, clusterVersion);
  const ns = o.namespace;
  const labels = (component?: string) => ({ ...CONFIG_LABELS, [INSTANCE]: o.name, ...(component ? { [COMPONENT]: component } : {}) });
  const webhookSelector = labels('webhook');
  const meta = (name: string, component?: string) => ({ name, namespace: ns, labels: labels(component) });
  const clusterMeta = (name: string, component?: string) => ({ name, labels: labels(component) });

  const objects: Obj[] = [
    // Everything here passes the restricted Pod Security Standard; the namespace enforces it so nothing weaker creeps in.
    ...(o.existingNamespace
      ? []
      : [
          {
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: { name: ns, labels: { ...labels(), 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } },
          },
        ]),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(names.serviceAccount), automountServiceAccountToken: true },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(names.service, 'webhook'),
      spec: {
        selector: webhookSelector,
        ports: [
          { name: 'https', port: webhook.port, targetPort: 'https', protocol: 'TCP' },
          { name: 'http-metrics', port: 8080, targetPort: 'http-metrics', protocol: 'TCP' },
        ],
      },
    },
    deployment(o, names, meta(names.deployment, 'webhook'), webhookSelector),
    { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(names.deployment, 'webhook'), spec: { minAvailable: 1, selector: { matchLabels: webhookSelector } } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(names.templates), data: {} },
  ];

  const [configuration, ...policies] = admission.objects.map((x) => structuredClone(x) as unknown as Obj);
  const mwc = configuration as Obj & { metadata: { annotations?: Record<string, string> } };
  if (o.certificates === 'cert-manager') {
    // cert-manager's CA injector copies the serving Certificate's ca.crt into every webhook's caBundle.
    mwc.metadata.annotations = { 'cert-manager.io/inject-ca-from': `${ns}/${names.servingCertificate}` };
  }
  objects.push(mwc, ...policies);
  objects.push(...(o.certificates === 'cert-manager' ? certManager(o, names, meta) : selfManaged(o, names, meta, clusterMeta, admission.objects.length > 1)));
  if (o.monitoring) objects.push(...monitors(o, names, meta, webhookSelector));
  return { objects, notices: admission.notices };
}

type Names = ReturnType<typeof installNames>;
type Meta = (name: string, component?: string) => { name: string; namespace?: string; labels: Record<string, string> };

function deployment(o: InstallOptions, names: Names, metadata: ReturnType<Meta>, selector: Record<string, string>): Obj {
  const spread = (topologyKey: string) => ({ maxSkew: 1, topologyKey, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector } });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      replicas: 2,
      revisionHistoryLimit: 3,
      selector: { matchLabels: selector },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: selector },
        spec: {
          serviceAccountName: names.serviceAccount,
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 35,
          securityContext: { runAsNonRoot: true, runAsUser: RESTRICTED_UID, runAsGroup: RESTRICTED_UID, fsGroup: RESTRICTED_UID, seccompProfile: { type: 'RuntimeDefault' } },
          topologySpreadConstraints: [spread('kubernetes.io/hostname'), spread('topology.kubernetes.io/zone')],
          containers: [
            {
              name: 'webhook',
              image: o.image,
              imagePullPolicy: 'IfNotPresent',
              args: ['serve', '--tls-cert', `${MOUNTS.tls}/tls.crt`, '--tls-key', `${MOUNTS.tls}/tls.key`, '--templates', MOUNTS.templates, '--shutdown-delay', '5'],
              ports: [
                { name: 'https', containerPort: 8443, protocol: 'TCP' },
                { name: 'http-metrics', containerPort: 8080, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http-metrics' }, periodSeconds: 5, failureThreshold: 2 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http-metrics' }, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 },
              resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } },
              securityContext: restrictedContainer(),
              volumeMounts: [
                { name: 'tls', mountPath: MOUNTS.tls, readOnly: true },
                { name: 'templates', mountPath: MOUNTS.templates, readOnly: true },
              ],
            },
          ],
          volumes: [
            // 0440: readable by the fsGroup only.
            { name: 'tls', secret: { secretName: names.tlsSecret, defaultMode: 0o440 } },
            { name: 'templates', configMap: { name: names.templates } },
          ],
        },
      },
    },
  };
}

function restrictedContainer() {
  return { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } };
}

function certManager(o: InstallOptions, names: Names, meta: Meta): Obj[] {
  const issuerRef = (name: string) => ({ group: 'cert-manager.io', kind: 'Issuer', name });
  return [
    { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: meta(names.selfSignedIssuer), spec: { selfSigned: {} } },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: meta(names.caCertificate),
      spec: {
        isCA: true,
        commonName: names.caCertificate,
        secretName: names.caSecret,
        duration: '87600h',
        renewBefore: '720h',
        privateKey: { algorithm: 'ECDSA', size: 256 },
        issuerRef: issuerRef(names.selfSignedIssuer),
      },
    },
    { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: meta(names.caIssuer), spec: { ca: { secretName: names.caSecret } } },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: meta(names.servingCertificate),
      spec: {
        secretName: names.tlsSecret,
        commonName: `${names.service}.${o.namespace}.svc`,
        dnsNames: serviceDnsNames(names.service, o.namespace),
        duration: '2160h',
        renewBefore: '360h',
        privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
        usages: ['server auth', 'digital signature', 'key encipherment'],
        issuerRef: issuerRef(names.caIssuer),
      },
    },
  ];
}

/** The Job's `register` arguments: the same choices as this install, so its runs never undo them. */
export function setupJobArgs(o: InstallOptions): string[] {
  const names = installNames(o.name);
  const nonDefault = (flag: string, value: string | number, fallback: string | number) => (value === fallback ? [] : [flag, String(value)]);
  return [
    'register',
    '--ensure-secret',
    names.tlsSecret,
    ...nonDefault('--namespace', o.namespace, WEBHOOK_DEFAULTS.namespace),
    ...nonDefault('--service', names.service, WEBHOOK_DEFAULTS.service),
    ...nonDefault('--name', o.name, WEBHOOK_DEFAULTS.name),
    // In the order deploy/'s components append them (label-gate, then ignore-all), so both print the same Job.
    ...(o.labelGate ? ['--label-gate'] : []),
    ...nonDefault('--failure-policy', o.failurePolicy, WEBHOOK_DEFAULTS.failurePolicy),
    ...nonDefault('--validation-action', o.validationAction, WEBHOOK_DEFAULTS.validationAction),
    ...nonDefault('--timeout', o.timeoutSeconds, WEBHOOK_DEFAULTS.timeoutSeconds),
  ];
}

function selfManaged(o: InstallOptions, names: Names, meta: Meta, clusterMeta: Meta, withPolicy: boolean): Obj[] {
  const roleRef = (kind: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind, name: names.setup });
  const subjects = [{ kind: 'ServiceAccount', name: names.setup, namespace: o.namespace }];
  const own = (resources: string[], name: string) => [
    { apiGroups: ['admissionregistration.k8s.io'], resources, resourceNames: [name], verbs: ['get', 'update'] },
    { apiGroups: ['admissionregistration.k8s.io'], resources, verbs: ['create'] },
  ];
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(names.setup, 'setup') },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: clusterMeta(names.setup, 'setup'),
      // `create` cannot be limited by resourceNames (the name is not known at authorization time).
      rules: [
        ...own(['mutatingwebhookconfigurations'], o.name),
        ...(withPolicy ? own(['validatingadmissionpolicies', 'validatingadmissionpolicybindings'], names.policy) : []),
      ],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: clusterMeta(names.setup, 'setup'), roleRef: roleRef('ClusterRole'), subjects },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(names.setup, 'setup'),
      rules: [
        { apiGroups: [''], resources: ['secrets'], resourceNames: [names.tlsSecret], verbs: ['get'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      ],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta(names.setup, 'setup'), roleRef: roleRef('Role'), subjects },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta(names.setup, 'setup'),
      spec: {
        backoffLimit: 6,
        activeDeadlineSeconds: 600,
        ttlSecondsAfterFinished: 3600,
        template: {
          metadata: { labels: meta(names.setup, 'setup').labels },
          spec: {
            serviceAccountName: names.setup,
            automountServiceAccountToken: true,
            enableServiceLinks: false,
            restartPolicy: 'OnFailure',
            securityContext: { runAsNonRoot: true, runAsUser: RESTRICTED_UID, runAsGroup: RESTRICTED_UID, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'setup',
                image: o.image,
                imagePullPolicy: 'IfNotPresent',
                args: setupJobArgs(o),
                resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } },
                securityContext: restrictedContainer(),
              },
            ],
          },
        },
      },
    },
  ];
}

function monitors(o: InstallOptions, names: Names, meta: Meta, webhookSelector: Record<string, string>): Obj[] {
  return [
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: meta(names.podMonitor),
      spec: {
        namespaceSelector: { any: true },
        selector: { matchLabels: { 'exporter-injector.io/injected': 'true' } },
        // One endpoint per scrape slot: see kube/pod-monitor.ts.
        podMetricsEndpoints: podMonitorEndpoints(),
      },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: meta(names.serviceMonitor),
      spec: {
        namespaceSelector: { matchNames: [o.namespace] },
        selector: { matchLabels: webhookSelector },
        endpoints: [{ port: 'http-metrics', path: '/metrics', scheme: 'http', interval: '30s' }],
      },
    },
  ];
}

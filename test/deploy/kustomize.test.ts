import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { DEFAULTS as SERVE_DEFAULTS, parseServeConfig, type FileProbe } from '../../src/config/serve-config.js';
import { PREFIX } from '../../src/core/types.js';
import { SCRAPE_SLOT_PREFIX, SCRAPE_SLOTS } from '../../src/core/mutate.js';
import { loadRegistry } from '../../src/registry/load.js';
import { validateTemplates } from '../../src/registry/validate.js';
import { TLS_FILES } from '../../src/tls/names.js';
import { serviceDnsNames } from '../../src/tls/generate.js';
import { desiredAdmissionObjects, type KubeVersion } from '../../src/kube/admission-objects.js';
import { installObjects, type InstallOptions } from '../../src/kube/install.js';
import { buildWebhookConfiguration } from '../../src/kube/webhook-config.js';
import { fakeIo } from '../helpers/fake-io.js';
import { checkRestricted } from '../helpers/pss.js';
import { parse } from 'yaml';
import { CUSTOM_KINDS, DEPLOY, OVERLAYS, find, findAll, gvk, kustomize, schemaProblems, selects, type Obj } from './manifests.js';

const TLS_MOUNT = '/etc/exporter-injector/tls';
const TEMPLATES_MOUNT = '/etc/exporter-injector/templates';

const built: Record<string, Obj[]> = {};
before(() => {
  built.base = kustomize(join(DEPLOY, 'base'));
  for (const overlay of OVERLAYS) built[overlay] = kustomize(join(DEPLOY, 'overlays', overlay));
});
const get = (name: string): Obj[] => built[name] as Obj[];
/** The overlays that install the webhook (prometheus-operator only adds monitors next to one of them). */
const INSTALLS = ['base', 'cert-manager', 'self-managed'] as const;

describe('deploy/ builds and validates', () => {
  for (const name of ['base', ...OVERLAYS]) {
    it(`${name}: every built-in object passes the OpenAPI schema with no unknown field`, () => {
      const objects = get(name);
      assert.ok(objects.length > 0);
      const problems = objects.filter((o) => !CUSTOM_KINDS.has(gvk(o))).flatMap((o) => schemaProblems(o).map((p) => `${o.kind}/${o.metadata?.name}: ${p}`));
      assert.deepEqual(problems, []);
    });
  }

  for (const name of INSTALLS) {
    it(`${name}: the webhook pod passes PSS restricted and the namespace enforces it`, () => {
      const deployment = find(get(name), 'Deployment', 'exporter-injector');
      assert.deepEqual(checkRestricted(deployment.spec.template.spec), []);
      assert.equal(find(get(name), 'Namespace', 'exporter-injector').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
      assert.equal(deployment.spec.template.spec.securityContext.runAsUser, 65532, 'numeric non-root UID, as in the Dockerfile');
      assert.equal(deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem, true);
    });
  }

  it("every container of the project's image runs the image's ENTRYPOINT (and so its node flags): none sets a command", () => {
    const own = (c: Obj) => String(c.image).split(':')[0] === 'exporter-injector';
    for (const name of INSTALLS) {
      const containers = get(name).flatMap((o) => (o.kind === 'Deployment' || o.kind === 'Job' ? [...(o.spec.template.spec.initContainers ?? []), ...o.spec.template.spec.containers] : []));
      assert.ok(containers.some(own), `${name}: runs the project's image`);
      for (const c of containers.filter(own)) assert.equal(c.command, undefined, `${name}: container ${c.name} sets a command`);
    }
  });

  it('every namespaced object is in the exporter-injector namespace', () => {
    const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    for (const name of ['base', ...OVERLAYS]) {
      for (const o of get(name).filter((x) => !clusterScoped.has(x.kind))) {
        assert.equal(o.metadata.namespace, 'exporter-injector', `${name}: ${o.kind}/${o.metadata.name}`);
      }
    }
  });
});

describe('the webhook Deployment, Service and MutatingWebhookConfiguration agree with serve and register', () => {
  for (const name of INSTALLS) {
    it(`${name}: clientConfig.service → Service port 443 → container port ${SERVE_DEFAULTS.port} on ${SERVE_DEFAULTS.path}`, () => {
      const objects = get(name);
      const hooks = find(objects, 'MutatingWebhookConfiguration', 'exporter-injector').webhooks;
      assert.equal(new Set(hooks.map((h: Obj) => JSON.stringify(h.clientConfig))).size, 1, 'both webhooks call the same service');
      const hook = hooks[0];
      const service = find(objects, 'Service', hook.clientConfig.service.name);
      assert.equal(service.metadata.namespace, hook.clientConfig.service.namespace);
      const servicePort = service.spec.ports.find((p: Obj) => p.port === hook.clientConfig.service.port);
      assert.ok(servicePort, `Service has port ${hook.clientConfig.service.port}`);
      assert.equal(servicePort.name, 'https');

      const deployment = find(objects, 'Deployment', 'exporter-injector');
      assert.ok(selects(service.spec.selector, deployment.spec.template.metadata.labels), 'the Service selects the webhook pods');
      const container = deployment.spec.template.spec.containers[0];
      const target = container.ports.find((p: Obj) => p.name === servicePort.targetPort || p.containerPort === servicePort.targetPort);
      assert.equal(target?.containerPort, SERVE_DEFAULTS.port, 'targetPort resolves to the port serve listens on');

      // The args must be flags serve accepts, pointing at files the mounted Secret provides.
      const config = parseServeConfig(container.args.slice(1), {}, mountedFiles(deployment));
      assert.equal(container.args[0], 'serve');
      assert.equal(config.port, target.containerPort);
      assert.equal(config.path, hook.clientConfig.service.path);
      assert.equal(config.tlsCert, `${TLS_MOUNT}/${TLS_FILES.cert}`);
      assert.equal(config.tlsKey, `${TLS_MOUNT}/${TLS_FILES.key}`);
      assert.equal(config.templatesDir, TEMPLATES_MOUNT);
      // The kubelet must not SIGKILL serve before its shutdown delay and drain have run.
      assert.ok(
        deployment.spec.template.spec.terminationGracePeriodSeconds > config.shutdownDelaySeconds + config.drainTimeoutSeconds,
        'terminationGracePeriodSeconds exceeds --shutdown-delay + --drain-timeout',
      );
      assert.ok(config.shutdownDelaySeconds > 0, 'a shutdown delay lets endpoint removal reach the API server first');

      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        const port = container.ports.find((p: Obj) => p.name === probe.httpGet.port);
        assert.equal(port?.containerPort, config.healthPort, 'probes use the plain-HTTP port');
      }
      assert.deepEqual([container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path], ['/readyz', '/healthz']);
    });
  }

  it('base: the admission objects are exactly what register --dry-run builds (no caBundle)', () => {
    const kinds = ['MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'];
    assert.deepEqual(
      kinds.map((k) => find(get('base'), k)),
      JSON.parse(JSON.stringify(desiredAdmissionObjects().objects)),
    );
  });

  it('base: register --dry-run -o json prints the same objects', async () => {
    const { io, stdout } = fakeIo();
    assert.equal(await main(['register', '--dry-run', '-o', 'json', '--ca-file', join(import.meta.dirname, '..', 'testdata', 'webhook', 'ca.crt')], io), 0);
    const printed = JSON.parse(stdout()).items as Obj[];
    for (const hook of printed[0]?.webhooks ?? []) delete hook.clientConfig.caBundle;
    assert.deepEqual(printed.map((o) => find(get('base'), o.kind, o.metadata.name)), printed);
  });

  it('overlays change the MutatingWebhookConfiguration only as documented', () => {
    const base = find(get('base'), 'MutatingWebhookConfiguration');
    assert.deepEqual(find(get('self-managed'), 'MutatingWebhookConfiguration'), base, 'the Job adds the caBundle at run time');
    const withCertManager = structuredClone(base);
    withCertManager.metadata.annotations = { 'cert-manager.io/inject-ca-from': 'exporter-injector/exporter-injector-serving' };
    assert.deepEqual(find(get('cert-manager'), 'MutatingWebhookConfiguration'), withCertManager);
  });

  it('a PodDisruptionBudget keeps one of the 2 spread replicas', () => {
    const objects = get('base');
    const deployment = find(objects, 'Deployment', 'exporter-injector');
    const pdb = find(objects, 'PodDisruptionBudget', 'exporter-injector');
    assert.equal(deployment.spec.replicas, 2);
    assert.equal(pdb.spec.minAvailable, 1);
    assert.ok(selects(pdb.spec.selector, deployment.spec.template.metadata.labels));
    const keys = deployment.spec.template.spec.topologySpreadConstraints.map((t: Obj) => t.topologyKey);
    assert.ok(keys.includes('kubernetes.io/hostname'));
    for (const t of deployment.spec.template.spec.topologySpreadConstraints) assert.ok(selects(t.labelSelector, deployment.spec.template.metadata.labels));
  });

  it('the webhook service account is bound to no role in any overlay (it needs only /version)', () => {
    for (const name of ['base', ...OVERLAYS]) {
      for (const binding of [...findAll(get(name), 'RoleBinding'), ...findAll(get(name), 'ClusterRoleBinding')]) {
        assert.ok(!binding.subjects.some((s: Obj) => s.kind === 'ServiceAccount' && s.name === 'exporter-injector'), `${name}: ${binding.metadata.name}`);
      }
    }
  });
});

/** A user's kustomization: an overlay plus components, built by kubectl kustomize (it wants relative paths). */
function buildWith(overlay: string, components: readonly string[]): Obj[] {
  const dir = mkdtempSync(join(tmpdir(), 'ei-kustomize-'));
  try {
    const rel = (p: string) => relative(dir, join(DEPLOY, p));
    const list = components.length > 0 ? `components:\n${components.map((c) => `  - ${rel(`components/${c}`)}\n`).join('')}` : '';
    writeFileSync(join(dir, 'kustomization.yaml'), `resources:\n  - ${rel(`overlays/${overlay}`)}\n${list}`);
    return kustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const key = (o: Obj) => `${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
function byKey(objects: readonly Obj[]): Map<string, Obj> {
  return new Map(objects.map((o) => [key(o), JSON.parse(JSON.stringify(o)) as Obj]));
}

/** deploy/ is `exporter-injector install` for the defaults: every overlay and component combination, object for object. */
const VARIANTS: { components: string[]; options: Partial<InstallOptions>; version?: KubeVersion }[] = [
  { components: [], options: {} },
  { components: ['label-gate'], options: { labelGate: true } },
  { components: ['ignore-all'], options: { failurePolicy: 'Ignore' } },
  { components: ['label-gate', 'ignore-all'], options: { labelGate: true, failurePolicy: 'Ignore' } },
  { components: ['kube-1.29'], options: {}, version: { major: 1, minor: 29 } },
  { components: ['label-gate', 'kube-1.29'], options: { labelGate: true }, version: { major: 1, minor: 29 } },
  { components: ['legacy'], options: {}, version: { major: 1, minor: 27 } },
  { components: ['label-gate', 'legacy'], options: { labelGate: true }, version: { major: 1, minor: 27 } },
];

describe('deploy/ is the install the code prints', () => {
  for (const overlay of ['cert-manager', 'self-managed'] as const) {
    for (const variant of VARIANTS) {
      const flags = variant.components.length > 0 ? ` + ${variant.components.join(' + ')}` : '';
      it(`${overlay}${flags} equals install --${overlay} for the same choices`, async () => {
        const built = buildWith(overlay, variant.components);
        const expected = installObjects({ ...variant.options, certificates: overlay }, variant.version).objects;
        const want = byKey(expected);
        const have = byKey(built);
        assert.deepEqual([...have.keys()].sort(), [...want.keys()].sort());
        for (const [k, o] of want) assert.deepEqual(have.get(k), o, k);
        for (const o of built.filter((x) => !CUSTOM_KINDS.has(gvk(x)))) assert.deepEqual(schemaProblems(o), [], key(o));
        // The Job's flags are ones register accepts.
        for (const job of findAll(built, 'Job')) {
          const { io, stderr } = fakeIo();
          assert.equal(await main([...job.spec.template.spec.containers[0].args, '--help'], io), 0, stderr());
        }
      });
    }
  }

  it('prometheus-operator equals the monitors of install --monitoring', () => {
    const monitors = installObjects({ monitoring: true }).objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1');
    assert.equal(monitors.length, 2);
    assert.deepEqual(byKey(get('prometheus-operator')), byKey(monitors));
  });

  it('components/legacy must come after label-gate: the other order fails to build instead of losing the gate', () => {
    assert.throws(() => buildWith('cert-manager', ['legacy', 'label-gate']), /webhooks\/1|kustomize/);
  });
});

describe('templates ConfigMap', () => {
  it('is mounted where serve reads templates, and its commented example is a valid template', () => {
    const objects = get('base');
    const configMap = find(objects, 'ConfigMap', 'exporter-injector-templates');
    const deployment = find(objects, 'Deployment', 'exporter-injector');
    const mount = deployment.spec.template.spec.containers[0].volumeMounts.find((m: Obj) => m.mountPath === TEMPLATES_MOUNT);
    assert.equal(deployment.spec.template.spec.volumes.find((v: Obj) => v.name === mount.name).configMap.name, configMap.metadata.name);

    // The example is the commented block from "# data:" on; uncommented, it is the ConfigMap's data.
    const text = readFileSync(join(DEPLOY, 'base', 'templates-configmap.yaml'), 'utf8');
    const block = text.slice(text.indexOf('\n# data:') + 1).split('\n').map((l) => l.replace(/^# ?/, '')).join('\n');
    const data = (parse(block) as { data: Record<string, string> }).data;
    assert.ok(Object.keys(data).length > 0, 'an example is there');
    const result = validateTemplates(Object.entries(data).map(([origin, t]) => ({ origin, text: t })));
    assert.deepEqual(result.problems, []);
  });
});

describe('cert-manager overlay', () => {
  it('issues the serving certificate for the Service names into the Secret the Deployment mounts, from our own CA', () => {
    const objects = get('cert-manager');
    const certificates = findAll(objects, 'Certificate');
    const issuers = new Map(findAll(objects, 'Issuer').map((i) => [i.metadata.name, i]));
    for (const c of [...certificates, ...issuers.values()]) assert.equal(c.apiVersion, 'cert-manager.io/v1');
    for (const c of certificates) {
      assert.equal(typeof c.spec.secretName, 'string', `${c.metadata.name}: spec.secretName is required`);
      assert.equal(c.spec.issuerRef.kind, 'Issuer');
      assert.ok(issuers.has(c.spec.issuerRef.name), `${c.metadata.name}: issuerRef ${c.spec.issuerRef.name} exists`);
      assert.ok(c.spec.commonName || c.spec.dnsNames?.length, `${c.metadata.name}: a commonName or dnsNames`);
    }
    for (const i of issuers.values()) assert.equal(['selfSigned', 'ca'].filter((k) => k in i.spec).length, 1, `${i.metadata.name}: exactly one issuer type`);

    const hook = find(objects, 'MutatingWebhookConfiguration').webhooks[0];
    const [ns, certName] = find(objects, 'MutatingWebhookConfiguration').metadata.annotations['cert-manager.io/inject-ca-from'].split('/');
    const serving = find(objects, 'Certificate', certName);
    assert.equal(ns, serving.metadata.namespace);
    assert.deepEqual(serving.spec.dnsNames, serviceDnsNames(hook.clientConfig.service.name, hook.clientConfig.service.namespace));
    assert.ok(serving.spec.usages.includes('server auth'));
    assert.equal(serving.spec.secretName, secretVolume(find(objects, 'Deployment')).secret.secretName);

    const caIssuer = issuers.get(serving.spec.issuerRef.name) as Obj;
    const ca = certificates.find((c) => c.spec.secretName === caIssuer.spec.ca?.secretName);
    assert.equal(ca?.spec.isCA, true, 'the serving Issuer is backed by the CA Certificate');
    assert.ok('selfSigned' in (issuers.get(ca.spec.issuerRef.name) as Obj).spec, 'the CA is self-signed');
  });
});

describe('self-managed overlay', () => {
  it('runs register --ensure-secret from the same image, PSS restricted, with a flag set register accepts', async () => {
    const objects = get('self-managed');
    const job = find(objects, 'Job', 'exporter-injector-setup');
    const deployment = find(objects, 'Deployment', 'exporter-injector');
    const pod = job.spec.template.spec;
    const container = pod.containers[0];
    assert.equal(container.image, deployment.spec.template.spec.containers[0].image);
    assert.equal(container.command, undefined, 'no shell: the image entrypoint runs the CLI');
    assert.equal(container.args[0], 'register');
    const secretName = container.args[container.args.indexOf('--ensure-secret') + 1];
    assert.equal(secretName, secretVolume(deployment).secret.secretName);
    assert.deepEqual(checkRestricted(pod), []);
    const { io, stderr } = fakeIo();
    assert.equal(await main([...container.args, '--help'], io), 0, `register accepts ${container.args.join(' ')}: ${stderr()}`);
  });

  it('grants the Job only get/update on our configuration and get on our Secret by name, plus create', () => {
    const objects = get('self-managed');
    const job = find(objects, 'Job', 'exporter-injector-setup');
    const sa = job.spec.template.spec.serviceAccountName;
    const rules = (kind: 'ClusterRole' | 'Role'): Obj[] => {
      const binding = find(objects, `${kind}Binding`);
      assert.ok(binding.subjects.some((s: Obj) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === job.metadata.namespace));
      return find(objects, kind, binding.roleRef.name).rules;
    };
    const allowed = (rs: Obj[]) => rs.flatMap((r) => r.verbs.map((v: string) => `${r.resources.join(',')}:${v}:${(r.resourceNames ?? ['*']).join(',')}`)).sort();
    assert.deepEqual(allowed(rules('ClusterRole')), [
      'mutatingwebhookconfigurations:create:*',
      'mutatingwebhookconfigurations:get:exporter-injector',
      'mutatingwebhookconfigurations:update:exporter-injector',
      'validatingadmissionpolicies,validatingadmissionpolicybindings:create:*',
      'validatingadmissionpolicies,validatingadmissionpolicybindings:get:exporter-injector-final-state',
      'validatingadmissionpolicies,validatingadmissionpolicybindings:update:exporter-injector-final-state',
    ]);
    assert.deepEqual(allowed(rules('Role')), ['secrets:create:*', 'secrets:get:exporter-injector-tls']);
    for (const r of [...rules('ClusterRole'), ...rules('Role')]) {
      assert.ok(!r.verbs.includes('*') && !r.resources.includes('*') && !r.apiGroups.includes('*'));
    }
  });
});

describe('prometheus-operator overlay', () => {
  it('the PodMonitor selects injected pods in every namespace, with one endpoint per scrape slot the injector writes', () => {
    const monitor = find(get('prometheus-operator'), 'PodMonitor');
    assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
    assert.deepEqual(monitor.spec.selector.matchLabels, { [`${PREFIX}injected`]: 'true' });
    assert.equal(monitor.spec.namespaceSelector.any, true);
    // What each endpoint does is proven by test/conformance (the relabelings run in a real Prometheus).
    assert.equal(monitor.spec.podMetricsEndpoints.length, SCRAPE_SLOTS, 'one endpoint per slot the core writes');
    monitor.spec.podMetricsEndpoints.forEach((endpoint: Obj, slot: number) => {
      assert.equal(endpoint.port, undefined, 'no port: every container port is discovered, then the slot\'s is kept');
      const label = `__meta_kubernetes_pod_annotation_${`${SCRAPE_SLOT_PREFIX}${slot}`.replace(/[^a-zA-Z0-9_]/g, '_')}`;
      const reads = endpoint.relabelings.filter((r: Obj) => (r.sourceLabels ?? []).includes(label));
      assert.equal(reads.length, 4, `endpoint ${slot} reads its own slot annotation ${label}`);
      assert.ok(endpoint.relabelings.some((r: Obj) => r.action === 'keepequal'), `endpoint ${slot} keeps only the slot's port`);
    });
  });

  it('the ServiceMonitor scrapes the webhook Service port serve exposes /metrics on', () => {
    const monitor = find(get('prometheus-operator'), 'ServiceMonitor');
    const service = find(get('base'), 'Service', 'exporter-injector');
    const deployment = find(get('base'), 'Deployment', 'exporter-injector');
    assert.ok(selects(monitor.spec.selector, service.metadata.labels));
    assert.deepEqual(monitor.spec.namespaceSelector.matchNames, [service.metadata.namespace]);
    const port = service.spec.ports.find((p: Obj) => p.name === monitor.spec.endpoints[0].port);
    const containerPort = deployment.spec.template.spec.containers[0].ports.find((p: Obj) => p.name === port.targetPort);
    assert.equal(containerPort.containerPort, SERVE_DEFAULTS.healthPort);
    assert.equal(monitor.spec.endpoints[0].path, '/metrics');
  });
});

function secretVolume(deployment: Obj): Obj {
  const mount = deployment.spec.template.spec.containers[0].volumeMounts.find((m: Obj) => m.mountPath === TLS_MOUNT);
  return deployment.spec.template.spec.volumes.find((v: Obj) => v.name === mount.name);
}

/** What the container would see: Secret keys as files under their mount, mounts as directories. */
function mountedFiles(deployment: Obj): FileProbe {
  const spec = deployment.spec.template.spec;
  const paths = new Map<string, 'file' | 'directory'>();
  for (const m of spec.containers[0].volumeMounts) {
    paths.set(m.mountPath, 'directory');
    const volume = spec.volumes.find((v: Obj) => v.name === m.name);
    if (volume?.secret) for (const key of [TLS_FILES.cert, TLS_FILES.key, TLS_FILES.caCert]) paths.set(`${m.mountPath}/${key}`, 'file');
  }
  return { kind: (path) => paths.get(path) ?? 'missing' };
}

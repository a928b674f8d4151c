// `exporter-injector install` for a namespace and a name that are not the defaults: every cross-reference
// is followed from the object that makes it to the object it names, and nothing still says the defaults.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { main } from '../../src/cli/main.js';
import { DEFAULTS as SERVE_DEFAULTS, parseServeConfig } from '../../src/config/serve-config.js';
import { desiredAdmissionObjects } from '../../src/kube/admission-objects.js';
import { serviceDnsNames } from '../../src/tls/generate.js';
import { fakeIo } from '../helpers/fake-io.js';
import { checkRestricted } from '../helpers/pss.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CUSTOM_KINDS, find, findAll, gvk, kustomize, schemaProblems, selects, type Obj } from './manifests.js';

const NS = 'team-metrics';
const NAME = 'ei-canary';
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

async function install(args: string[]): Promise<{ objects: Obj[]; stderr: string }> {
  const { io, stdout, stderr } = fakeIo();
  const code = await main(['install', ...args], io);
  assert.equal(code, 0, stderr());
  return { objects: parseAllDocuments(stdout()).map((d) => d.toJS() as Obj), stderr: stderr() };
}

/** Every string value in `o` with its path. */
function strings(o: unknown, path = ''): [string, string][] {
  if (typeof o === 'string') return [[path, o]];
  if (Array.isArray(o)) return o.flatMap((v, i) => strings(v, `${path}[${i}]`));
  if (o && typeof o === 'object') return Object.entries(o).flatMap(([k, v]) => strings(v, `${path}.${k}`));
  return [];
}

for (const source of ['cert-manager', 'self-managed'] as const) {
  describe(`install -n ${NS} --name ${NAME} --${source} --monitoring`, () => {
    let objects: Obj[] = [];
    const get = async () => {
      if (objects.length === 0) objects = (await install(['-n', NS, '--name', NAME, `--${source}`, '--monitoring'])).objects;
      return objects;
    };

    it('every object passes the schema; every namespaced object is in the namespace, which enforces PSS restricted', async () => {
      const all = await get();
      for (const o of all.filter((x) => !CUSTOM_KINDS.has(gvk(x)))) assert.deepEqual(schemaProblems(o), [], `${o.kind}/${o.metadata.name}`);
      for (const o of all.filter((x) => !CLUSTER_SCOPED.has(x.kind))) assert.equal(o.metadata.namespace, NS, `${o.kind}/${o.metadata.name}`);
      assert.equal(find(all, 'Namespace').metadata.name, NS);
      assert.equal(find(all, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
      for (const o of [...findAll(all, 'Deployment'), ...findAll(all, 'Job')]) assert.deepEqual(checkRestricted(o.spec.template.spec), []);
    });

    it('nothing still names the default namespace or the default object names', async () => {
      const leftovers = (await get())
        .flatMap((o) => strings(o, `${o.kind}/${o.metadata.name}`))
        .filter(([path, value]) => /(^|[./ ])exporter-injector([-./ ]|$)/.test(value) && !/^exporter-injector\.io\//.test(value))
        // Allowed: the product's label value, its webhook names (a domain), the image, and the CLI the Job runs.
        .filter(([path, value]) => !(path.endsWith('app.kubernetes.io/name') && value === 'exporter-injector'))
        .filter(([, value]) => !/^(required\.|optional\.)?inject\.exporter-injector\.io$/.test(value))
        .filter(([path]) => !path.endsWith('.image'))
        // Paths inside the container, fixed by the image, not by the install.
        .filter(([, value]) => !value.startsWith('/etc/exporter-injector/'))
        .filter(([, value]) => !value.includes('exporter-injector.io/') && !/exporter-injector (audit|install)/.test(value));
      assert.deepEqual(leftovers, []);
    });

    it('webhooks → Service (name, namespace, port) → the Deployment\'s serve port and path', async () => {
      const all = await get();
      const mwc = find(all, 'MutatingWebhookConfiguration', NAME);
      assert.equal(mwc.webhooks.length, 2);
      const deployment = find(all, 'Deployment', NAME);
      for (const hook of mwc.webhooks) {
        const ref = hook.clientConfig.service;
        const service = find(all, 'Service', ref.name);
        assert.equal(service.metadata.namespace, ref.namespace);
        const port = service.spec.ports.find((p: Obj) => p.port === ref.port);
        assert.ok(selects(service.spec.selector, deployment.spec.template.metadata.labels));
        const containerPort = deployment.spec.template.spec.containers[0].ports.find((p: Obj) => p.name === port.targetPort);
        assert.equal(containerPort.containerPort, SERVE_DEFAULTS.port);
        const config = parseServeConfig(deployment.spec.template.spec.containers[0].args.slice(1), {}, { kind: (p) => (p.endsWith('templates') ? 'directory' : 'file') });
        assert.equal(config.path, ref.path);
        // The webhook's own namespace is never sent (no injector pod waits for itself).
        assert.ok(hook.namespaceSelector.matchExpressions[0].values.includes(NS));
        assert.equal(hook.namespaceSelector.matchExpressions[0].operator, 'NotIn');
      }
    });

    it('the final-state policy: binding → policy; same namespaces excluded; its message names the Service and namespace', async () => {
      const all = await get();
      const binding = find(all, 'ValidatingAdmissionPolicyBinding');
      const policy = find(all, 'ValidatingAdmissionPolicy', binding.spec.policyName);
      assert.ok(policy.metadata.name.startsWith(NAME));
      assert.deepEqual(policy.spec.matchConstraints.namespaceSelector, find(all, 'MutatingWebhookConfiguration').webhooks[0].namespaceSelector);
      assert.match(policy.spec.validations[0].message, new RegExp(`${NAME}\\.${NS}.*kubectl -n ${NS} get pods,endpoints`));
    });

    it('selectors: Service, PodDisruptionBudget and spread constraints select this install\'s pods only', async () => {
      const all = await get();
      const pods = find(all, 'Deployment', NAME).spec.template;
      assert.equal(pods.metadata.labels['app.kubernetes.io/instance'], NAME);
      const other = { ...pods.metadata.labels, 'app.kubernetes.io/instance': 'exporter-injector' };
      for (const selector of [
        { matchLabels: find(all, 'Service', NAME).spec.selector },
        find(all, 'PodDisruptionBudget', NAME).spec.selector,
        ...pods.spec.topologySpreadConstraints.map((t: Obj) => t.labelSelector),
      ]) {
        assert.ok(selects(selector.matchLabels, pods.metadata.labels));
        assert.ok(!selects(selector.matchLabels, other), 'another install\'s pods are not selected');
      }
      assert.equal(find(all, 'Deployment', NAME).spec.replicas, 2);
      assert.equal(find(all, 'PodDisruptionBudget', NAME).spec.minAvailable, 1);
      assert.equal(find(all, 'ServiceAccount', pods.spec.serviceAccountName).metadata.namespace, NS);
      const volumes = pods.spec.volumes;
      assert.ok(find(all, 'ConfigMap', volumes.find((v: Obj) => v.configMap).configMap.name));
    });

    it('monitors: the ServiceMonitor selects the Service in the namespace; the PodMonitor lives there and scrapes injected pods anywhere', async () => {
      const all = await get();
      const sm = find(all, 'ServiceMonitor');
      assert.deepEqual(sm.spec.namespaceSelector.matchNames, [NS]);
      assert.ok(selects(sm.spec.selector, find(all, 'Service', NAME).metadata.labels));
      const pm = find(all, 'PodMonitor');
      assert.equal(pm.metadata.namespace, NS);
      assert.deepEqual(pm.spec.namespaceSelector, { any: true });
    });

    if (source === 'cert-manager') {
      it('cert-manager: inject-ca-from → serving Certificate → Secret the Deployment mounts; DNS names of the Service; issuers resolve', async () => {
        const all = await get();
        const [ns, name] = find(all, 'MutatingWebhookConfiguration').metadata.annotations['cert-manager.io/inject-ca-from'].split('/');
        assert.equal(ns, NS);
        const serving = find(all, 'Certificate', name);
        assert.equal(serving.metadata.namespace, NS);
        assert.deepEqual(serving.spec.dnsNames, serviceDnsNames(NAME, NS));
        assert.equal(serving.spec.commonName, `${NAME}.${NS}.svc`);
        const tls = find(all, 'Deployment', NAME).spec.template.spec.volumes.find((v: Obj) => v.secret).secret.secretName;
        assert.equal(serving.spec.secretName, tls);
        const issuers = new Map(findAll(all, 'Issuer').map((i) => [i.metadata.name, i]));
        for (const c of findAll(all, 'Certificate')) assert.ok(issuers.has(c.spec.issuerRef.name), `${c.metadata.name} → ${c.spec.issuerRef.name}`);
        const caIssuer = issuers.get(serving.spec.issuerRef.name) as Obj;
        assert.ok(findAll(all, 'Certificate').some((c) => c.spec.isCA && c.spec.secretName === caIssuer.spec.ca.secretName));
      });
    } else {
      it('self-managed: the Job registers this install\'s objects and its Secret; RBAC grants exactly those names to its account', async () => {
        const all = await get();
        const job = find(all, 'Job');
        const args: string[] = job.spec.template.spec.containers[0].args;
        const secret = args[args.indexOf('--ensure-secret') + 1];
        assert.equal(secret, find(all, 'Deployment', NAME).spec.template.spec.volumes.find((v: Obj) => v.secret).secret.secretName);
        // What the Job's register writes, built by the CLI from the Job's own flags, is what install printed.
        const { io, stdout, stderr } = fakeIo();
        const flags = args.filter((_, i) => i !== args.indexOf('--ensure-secret') && i !== args.indexOf('--ensure-secret') + 1);
        assert.equal(await main([...flags, '--dry-run', '-o', 'json'], io), 0, stderr());
        const printed = JSON.parse(stdout()).items as Obj[];
        // The Job adds its Secret's CA at run time; a local certs/ca.crt may have been picked up here.
        for (const hook of printed[0]?.webhooks ?? []) delete hook.clientConfig.caBundle;
        for (const o of printed) assert.deepEqual(o, JSON.parse(JSON.stringify(find(all, o.kind, o.metadata.name))));
        assert.deepEqual(printed.map((o) => o.kind), desiredAdmissionObjects().objects.map((o) => o.kind));

        const sa = job.spec.template.spec.serviceAccountName;
        for (const kind of ['RoleBinding', 'ClusterRoleBinding']) {
          const binding = find(all, kind);
          assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: NS }]);
          assert.ok(find(all, binding.roleRef.kind, binding.roleRef.name));
        }
        const names = (kind: string) => find(all, kind).rules.flatMap((r: Obj) => r.resourceNames ?? []);
        assert.deepEqual([...new Set(names('ClusterRole'))].sort(), [NAME, find(all, 'ValidatingAdmissionPolicy').metadata.name].sort());
        assert.deepEqual(names('Role'), [secret]);
        assert.equal(find(all, 'ServiceAccount', sa).metadata.namespace, NS);
      });
    }
  });
}

describe('kubectl reads what install and register print', () => {
  for (const command of [['install', '-n', NS, '--name', NAME, '--self-managed', '--monitoring'], ['register', '--dry-run', '--ca-file', join(import.meta.dirname, '..', 'testdata', 'webhook', 'ca.crt')]]) {
    it(`${command.slice(0, 2).join(' ')}: kubectl kustomize parses the YAML into the same objects`, async () => {
      const { io, stdout, stderr } = fakeIo();
      assert.equal(await main(command, io), 0, stderr());
      const dir = mkdtempSync(join(tmpdir(), 'ei-install-'));
      try {
        writeFileSync(join(dir, 'printed.yaml'), stdout());
        writeFileSync(join(dir, 'kustomization.yaml'), 'resources:\n  - printed.yaml\n');
        const read = kustomize(dir);
        const printed = parseAllDocuments(stdout()).map((d) => d.toJS() as Obj);
        const key = (o: Obj) => `${o.kind}/${o.metadata.name}`;
        assert.deepEqual(new Map(read.map((o) => [key(o), o])), new Map(printed.map((o) => [key(o), o])));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('install flags', () => {
  it('--kube-version 1.27 prints the legacy webhook, no policy, and says why on stderr; --existing-namespace prints no Namespace', async () => {
    const { objects, stderr } = await install(['--kube-version', '1.27', '--existing-namespace']);
    assert.deepEqual(find(objects, 'MutatingWebhookConfiguration').webhooks.map((w: Obj) => [w.name, w.failurePolicy]), [['inject.exporter-injector.io', 'Ignore']]);
    assert.equal(findAll(objects, 'ValidatingAdmissionPolicy').length, 0);
    assert.equal(findAll(objects, 'Namespace').length, 0);
    assert.match(stderr, /note: Kubernetes 1\.27 has no webhook matchConditions/);
  });

  it('-o json prints a v1 List of the same objects', async () => {
    const yaml = await install([]);
    const { io, stdout } = fakeIo();
    assert.equal(await main(['install', '-o', 'json'], io), 0);
    const list = JSON.parse(stdout());
    assert.deepEqual([list.apiVersion, list.kind], ['v1', 'List']);
    assert.deepEqual(list.items, yaml.objects);
  });

  const usage: [string[], RegExp][] = [
    [['--cert-manager', '--self-managed'], /two sources of certificates; give one/],
    [['-n', 'Bad_NS'], /namespace "Bad_NS" is not a DNS label/],
    [['--name', 'UPPER'], /name "UPPER" is not a DNS subdomain/],
    [['--failure-policy', 'Sometimes'], /--failure-policy "Sometimes" is invalid.*; valid: PerPod, Ignore, Fail/],
    [['--kube-version', 'latest'], /--kube-version "latest" is invalid/],
    [['--bogus'], /install: unknown flag --bogus/],
  ];
  for (const [args, message] of usage) {
    it(`exits 2 for ${args.join(' ')}`, async () => {
      const { io, stdout, stderr } = fakeIo();
      assert.equal(await main(['install', ...args], io), 2);
      assert.match(stderr(), message);
      assert.equal(stdout(), '');
    });
  }
});

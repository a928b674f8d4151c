// Feeds our output to kubectl itself, the way a user pipes it: `kubectl create --dry-run=client
// -o json -f -` decodes YAML with kubectl's own YAML 1.1 reader (sigs.k8s.io/yaml) and prints the
// objects it would send, creating nothing. kubectl needs API discovery to map each kind to a
// resource before it prints, so a static discovery stand-in answers on loopback: /api, /apis and
// the resource list of each group version we print. Nothing else is served; any other request is a
// 404, so kubectl cannot quietly do more than decode.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Kind {
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

const ns = (kind: string, plural: string): Kind => ({ kind, plural, namespaced: true });
const cluster = (kind: string, plural: string): Kind => ({ kind, plural, namespaced: false });

/** Group version ('' group = core) -> the kinds we print, read or ship in deploy/. */
const RESOURCES: Record<string, readonly Kind[]> = {
  v1: [
    ns('Pod', 'pods'),
    ns('Secret', 'secrets'),
    ns('Service', 'services'),
    ns('ConfigMap', 'configmaps'),
    ns('ServiceAccount', 'serviceaccounts'),
    ns('ReplicationController', 'replicationcontrollers'),
    cluster('Namespace', 'namespaces'),
  ],
  'apps/v1': [
    ns('Deployment', 'deployments'),
    ns('StatefulSet', 'statefulsets'),
    ns('DaemonSet', 'daemonsets'),
    ns('ReplicaSet', 'replicasets'),
  ],
  'batch/v1': [ns('Job', 'jobs'), ns('CronJob', 'cronjobs')],
  'policy/v1': [ns('PodDisruptionBudget', 'poddisruptionbudgets')],
  'admissionregistration.k8s.io/v1': [
    cluster('MutatingWebhookConfiguration', 'mutatingwebhookconfigurations'),
    cluster('ValidatingWebhookConfiguration', 'validatingwebhookconfigurations'),
    cluster('ValidatingAdmissionPolicy', 'validatingadmissionpolicies'),
    cluster('ValidatingAdmissionPolicyBinding', 'validatingadmissionpolicybindings'),
  ],
  'rbac.authorization.k8s.io/v1': [
    cluster('ClusterRole', 'clusterroles'),
    cluster('ClusterRoleBinding', 'clusterrolebindings'),
    ns('Role', 'roles'),
    ns('RoleBinding', 'rolebindings'),
  ],
  // The custom resources deploy/ ships or that carry pod templates users opt in.
  'cert-manager.io/v1': [ns('Certificate', 'certificates'), ns('Issuer', 'issuers')],
  'monitoring.coreos.com/v1': [ns('PodMonitor', 'podmonitors'), ns('ServiceMonitor', 'servicemonitors')],
  'argoproj.io/v1alpha1': [ns('Rollout', 'rollouts')],
  'apps.openshift.io/v1': [ns('DeploymentConfig', 'deploymentconfigs')],
};

function discoveryDocument(path: string): object | undefined {
  if (path === '/api') {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
  }
  const groups = new Map<string, string[]>();
  for (const gv of Object.keys(RESOURCES)) {
    if (!gv.includes('/')) continue;
    const [group, version] = gv.split('/') as [string, string];
    groups.set(group, [...(groups.get(group) ?? []), version]);
  }
  if (path === '/apis') {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
        preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
      })),
    };
  }
  const gv = path === '/api/v1' ? 'v1' : path.startsWith('/apis/') ? path.slice('/apis/'.length) : undefined;
  const kinds = gv === undefined ? undefined : RESOURCES[gv];
  if (!kinds) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv,
    resources: kinds.map((k) => ({
      name: k.plural,
      singularName: k.kind.toLowerCase(),
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    })),
  };
}

/** kubectl prints one JSON object per object it would create, one after another: split them. */
function jsonStream(text: string): Record<string, unknown>[] {
  const objects: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth++ === 0) start = i;
    } else if (ch === '}' && --depth === 0) {
      objects.push(JSON.parse(text.slice(start, i + 1)) as Record<string, unknown>);
    }
  }
  if (depth !== 0 || inString) throw new Error('the output ends inside a JSON object');
  return objects;
}

export interface KubectlDecoder {
  /** The objects kubectl decodes from YAML or JSON (a List's items, every document of a stream). */
  decode(input: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** Starts the discovery stand-in on 127.0.0.1 and an empty kubectl configuration beside it. */
export async function startKubectlDecoder(): Promise<KubectlDecoder> {
  const server: Server = createServer((req, res) => {
    const doc = discoveryDocument(new URL(req.url ?? '/', 'http://x').pathname);
    res.writeHead(doc ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(doc ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  // No user kubeconfig, no shared discovery cache: only the stand-in is ever asked.
  const home = await mkdtemp(join(tmpdir(), 'ei-kubectl-'));
  const kubeconfig = join(home, 'config');
  await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig };
  const args = [
    'create', '--dry-run=client', '-o', 'json', '--validate=false', '-f', '-',
    '--server', `http://127.0.0.1:${port}`, '--cache-dir', join(home, 'cache'), '--request-timeout', '10s',
  ];

  return {
    decode: (input) =>
      new Promise((resolve, reject) => {
        const child = execFile('kubectl', args, { env, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
          if (err) {
            reject(new Error(`kubectl refused the input (${err.message.split('\n')[0]}):\n${stderr}`));
            return;
          }
          try {
            resolve(jsonStream(stdout));
          } catch (parseError) {
            reject(new Error(`kubectl printed something that is not JSON: ${String(parseError)}\n${stdout.slice(0, 500)}`));
          }
        });
        child.stdin?.end(input);
      }),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** One-shot form: starts the stand-in, decodes, stops. Batch objects into one call where possible. */
export async function kubectlDecode(input: string): Promise<Record<string, unknown>[]> {
  const decoder = await startKubectlDecoder();
  try {
    return await decoder.decode(input);
  } finally {
    await decoder.close();
  }
}

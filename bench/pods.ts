// The request bodies the bench sends: AdmissionReviews of pods shaped like the ones a ReplicaSet
// controller creates (owner reference, service account volume, probes, env, resources), in three
// sizes, plus the same typical pod without the opt-in annotation for the skip path. Deterministic,
// so every run and both targets see the same bytes.

export type BodyName = 'small' | 'typical' | 'large' | 'skip';

interface Shape {
  readonly containers: number;
  /** Environment variables per container: what grows a real pod besides its container count. */
  readonly env: number;
  readonly optIn: boolean;
}

/** small ~2.6 KB, 1 container; typical ~13 KB, 3 containers; large ~150 KB, 30 containers. */
export const SHAPES: Record<BodyName, Shape> = {
  small: { containers: 1, env: 0, optIn: true },
  typical: { containers: 3, env: 48, optIn: true },
  large: { containers: 30, env: 62, optIn: true },
  skip: { containers: 3, env: 48, optIn: false },
};

function container(i: number, env: number): Record<string, unknown> {
  // The first container is the redis the `redis` template scrapes; the others are its neighbours.
  const name = i === 0 ? 'redis' : `worker-${i}`;
  return {
    name,
    image: i === 0 ? 'redis:7.4' : `registry.example.com/shop/worker-${i}:1.14.${i}`,
    imagePullPolicy: 'IfNotPresent',
    args: i === 0 ? ['--appendonly', 'yes'] : ['--config=/etc/worker/config.yaml', `--shard=${i}`],
    ports: [{ name: i === 0 ? 'redis' : `http-${i}`, containerPort: i === 0 ? 6379 : 8000 + i, protocol: 'TCP' }],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      ...Array.from({ length: env }, (_, k) =>
        k % 5 === 4
          ? { name: `SECRET_${k}`, valueFrom: { secretKeyRef: { name: `shop-secrets-${i}`, key: `key-${k}` } } }
          : { name: `SETTING_${i}_${k}`, value: `value-${k}-for-${name}` },
      ),
    ],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    volumeMounts: [{ name: 'kube-api-access-x7k2p', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }],
    readinessProbe: { tcpSocket: { port: i === 0 ? 6379 : 8000 + i }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, runAsUser: 999 },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  };
}

export function review(name: BodyName): Record<string, unknown> {
  const shape = SHAPES[name];
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          generateName: 'cache-7d9c6b5f4-',
          namespace: 'shop',
          labels: { app: 'cache', 'pod-template-hash': '7d9c6b5f4', 'app.kubernetes.io/part-of': 'shop' },
          ...(shape.optIn ? { annotations: { 'exporter-injector.io/inject': 'redis' } } : {}),
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'cache-7d9c6b5f4', uid: 'a1b2c3d4-0000-4000-8000-123456789abc', controller: true, blockOwnerDeletion: true }],
        },
        spec: {
          containers: Array.from({ length: shape.containers }, (_, i) => container(i, shape.env)),
          volumes: [
            {
              name: 'kube-api-access-x7k2p',
              projected: {
                defaultMode: 420,
                sources: [
                  { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
                  { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                  { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
                ],
              },
            },
          ],
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 30,
          dnsPolicy: 'ClusterFirst',
          serviceAccountName: 'default',
          securityContext: { fsGroup: 999 },
          schedulerName: 'default-scheduler',
          tolerations: [
            { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
            { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
          ],
          priority: 0,
          enableServiceLinks: true,
          preemptionPolicy: 'PreemptLowerPriority',
        },
      },
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

export function bodies(): Record<BodyName, Buffer> {
  return Object.fromEntries((Object.keys(SHAPES) as BodyName[]).map((n) => [n, Buffer.from(JSON.stringify(review(n)))])) as Record<BodyName, Buffer>;
}

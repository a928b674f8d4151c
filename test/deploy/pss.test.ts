// The PSS restricted checker itself: it must pass a compliant pod and name each rule a pod breaks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1PodSpec } from '@kubernetes/client-node';
import { checkRestricted } from '../helpers/pss.js';

function compliant(): V1PodSpec {
  return {
    securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'app',
        image: 'app',
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } },
      },
    ],
    initContainers: [
      {
        name: 'redis-exporter',
        image: 'exporter',
        restartPolicy: 'Always',
        securityContext: { allowPrivilegeEscalation: false, runAsUser: 59000, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } },
      },
    ],
    volumes: [{ name: 'tls', secret: { secretName: 's' } }, { name: 'tmp', emptyDir: {} }],
  };
}

describe('checkRestricted', () => {
  it('passes a pod that meets every rule (pod-level runAsNonRoot and seccomp apply to all containers)', () => {
    assert.deepEqual(checkRestricted(compliant()), []);
  });

  const cases: [string, (p: V1PodSpec) => void, RegExp][] = [
    ['hostNetwork', (p) => (p.hostNetwork = true), /spec\.hostNetwork must be unset or false/],
    ['hostPID', (p) => (p.hostPID = true), /spec\.hostPID/],
    ['hostIPC', (p) => (p.hostIPC = true), /spec\.hostIPC/],
    ['hostPath volume', (p) => p.volumes!.push({ name: 'h', hostPath: { path: '/' } }), /volumes\[h\] must not be a hostPath volume/],
    ['nfs volume (not in the restricted list)', (p) => p.volumes!.push({ name: 'n', nfs: { server: 's', path: '/' } }), /volumes\[n\] type nfs is not allowed/],
    ['privileged', (p) => (p.containers[0]!.securityContext!.privileged = true), /containers\[app\]\.securityContext\.privileged/],
    ['allowPrivilegeEscalation unset', (p) => delete p.initContainers![0]!.securityContext!.allowPrivilegeEscalation, /initContainers\[redis-exporter\]\.securityContext\.allowPrivilegeEscalation must be false/],
    ['runAsNonRoot nowhere', (p) => delete p.securityContext!.runAsNonRoot, /containers\[app\]\.securityContext\.runAsNonRoot/],
    ['runAsNonRoot false on a container overrides the pod', (p) => (p.containers[0]!.securityContext!.runAsNonRoot = false), /containers\[app\]\.securityContext\.runAsNonRoot/],
    ['runAsUser 0 on the pod', (p) => (p.securityContext!.runAsUser = 0), /spec\.securityContext\.runAsUser must not be 0/],
    ['runAsUser 0 on a container', (p) => (p.initContainers![0]!.securityContext!.runAsUser = 0), /initContainers\[redis-exporter\]\.securityContext\.runAsUser must not be 0/],
    ['no seccomp anywhere', (p) => delete p.securityContext!.seccompProfile, /containers\[app\]\.securityContext\.seccompProfile\.type \(or spec/],
    ['Unconfined seccomp on a container', (p) => (p.containers[0]!.securityContext!.seccompProfile = { type: 'Unconfined' }), /must be RuntimeDefault or Localhost, not Unconfined/],
    ['capabilities not dropped', (p) => (p.containers[0]!.securityContext!.capabilities = {}), /containers\[app\]\.securityContext\.capabilities\.drop must include ALL/],
    ['a capability other than NET_BIND_SERVICE added', (p) => p.containers[0]!.securityContext!.capabilities!.add!.push('SYS_ADMIN'), /add may only contain NET_BIND_SERVICE, not SYS_ADMIN/],
    ['hostPort', (p) => (p.containers[0]!.ports = [{ name: 'web', containerPort: 80, hostPort: 80 }]), /ports\[web\]\.hostPort/],
    ['unsafe sysctl', (p) => (p.securityContext!.sysctls = [{ name: 'kernel.msgmax', value: '1' }]), /kernel\.msgmax is not a safe sysctl/],
    ['ephemeral container without a securityContext', (p) => (p.ephemeralContainers = [{ name: 'debug', image: 'busybox' }]), /ephemeralContainers\[debug\]\.securityContext\.allowPrivilegeEscalation/],
  ];
  for (const [what, breakIt, message] of cases) {
    it(`reports ${what}`, () => {
      const pod = compliant();
      breakIt(pod);
      const violations = checkRestricted(pod);
      assert.ok(violations.some((v) => message.test(v)), `expected ${message} in ${JSON.stringify(violations)}`);
    });
  }
});

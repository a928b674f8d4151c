// The Pod Security Standard "restricted" profile (which includes "baseline") as a checker for pod specs:
// https://kubernetes.io/docs/concepts/security/pod-security-standards/ (policy version "latest").
// Returns one message per violation, naming the field, so a failing test says what to fix.
import type { V1Capabilities, V1Container, V1PodSpec, V1SeccompProfile, V1SecurityContext } from '@kubernetes/client-node';

const BASELINE_VOLUME_FORBIDDEN = ['hostPath'] as const;
const RESTRICTED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const SECCOMP_ALLOWED = new Set(['RuntimeDefault', 'Localhost']);

type AnyContainer = Pick<V1Container, 'name' | 'securityContext' | 'ports'>;

/** Violations of PSS restricted in `podSpec` (all containers, init and ephemeral included); empty when it passes. */
export function checkRestricted(podSpec: V1PodSpec): string[] {
  const v: string[] = [];
  const pod = podSpec.securityContext ?? {};
  const containers: [string, AnyContainer][] = [
    ...(podSpec.initContainers ?? []).map((c): [string, AnyContainer] => [`initContainers[${c.name}]`, c]),
    ...(podSpec.containers ?? []).map((c): [string, AnyContainer] => [`containers[${c.name}]`, c]),
    ...(podSpec.ephemeralContainers ?? []).map((c): [string, AnyContainer] => [`ephemeralContainers[${c.name}]`, c]),
  ];

  // Baseline: host namespaces, host paths, host ports, privileged, sysctls, SELinux, AppArmor, /proc.
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (podSpec[field] === true) v.push(`spec.${field} must be unset or false`);
  }
  if (pod.windowsOptions?.hostProcess === true) v.push('spec.securityContext.windowsOptions.hostProcess must not be true');
  for (const volume of podSpec.volumes ?? []) {
    const types = Object.keys(volume).filter((k) => k !== 'name' && (volume as unknown as Record<string, unknown>)[k] !== undefined);
    for (const t of types) {
      if ((BASELINE_VOLUME_FORBIDDEN as readonly string[]).includes(t)) v.push(`spec.volumes[${volume.name}] must not be a ${t} volume`);
      else if (!RESTRICTED_VOLUME_TYPES.has(t)) v.push(`spec.volumes[${volume.name}] type ${t} is not allowed; allowed: ${[...RESTRICTED_VOLUME_TYPES].join(', ')}`);
    }
  }
  for (const sysctl of pod.sysctls ?? []) {
    if (!SAFE_SYSCTLS.has(sysctl.name)) v.push(`spec.securityContext.sysctls ${sysctl.name} is not a safe sysctl`);
  }
  checkSeLinux(pod.seLinuxOptions, 'spec.securityContext.seLinuxOptions', v);
  checkAppArmor(pod.appArmorProfile?.type, 'spec.securityContext.appArmorProfile.type', v);

  // Restricted, pod level.
  if (pod.runAsUser === 0) v.push('spec.securityContext.runAsUser must not be 0');
  checkSeccomp(pod.seccompProfile, 'spec.securityContext.seccompProfile.type', v);

  for (const [where, c] of containers) {
    const sc: V1SecurityContext = c.securityContext ?? {};
    const at = `${where}.securityContext`;
    if (sc.privileged === true) v.push(`${at}.privileged must be unset or false`);
    if (sc.windowsOptions?.hostProcess === true) v.push(`${at}.windowsOptions.hostProcess must not be true`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') v.push(`${at}.procMount must be Default`);
    checkSeLinux(sc.seLinuxOptions, `${at}.seLinuxOptions`, v);
    checkAppArmor(sc.appArmorProfile?.type, `${at}.appArmorProfile.type`, v);
    for (const port of c.ports ?? []) {
      if (port.hostPort !== undefined && port.hostPort !== 0) v.push(`${where}.ports[${port.name ?? port.containerPort}].hostPort must be unset or 0`);
    }
    if (sc.allowPrivilegeEscalation !== false) v.push(`${at}.allowPrivilegeEscalation must be false`);
    // A container-level value wins over the pod's; one of them must say true, and none may say false.
    if (sc.runAsNonRoot === false || (sc.runAsNonRoot !== true && pod.runAsNonRoot !== true)) {
      v.push(`${at}.runAsNonRoot (or spec.securityContext.runAsNonRoot) must be true`);
    }
    if (sc.runAsUser === 0) v.push(`${at}.runAsUser must not be 0`);
    if (sc.seccompProfile !== undefined) checkSeccomp(sc.seccompProfile, `${at}.seccompProfile.type`, v);
    else if (pod.seccompProfile === undefined) v.push(`${at}.seccompProfile.type (or spec.securityContext.seccompProfile.type) must be RuntimeDefault or Localhost`);
    checkCapabilities(sc.capabilities, `${at}.capabilities`, v);
  }
  return v;
}

function checkSeccomp(profile: V1SeccompProfile | undefined, at: string, v: string[]): void {
  if (profile === undefined) return;
  if (!SECCOMP_ALLOWED.has(profile.type)) v.push(`${at} must be RuntimeDefault or Localhost, not ${profile.type}`);
}

function checkCapabilities(caps: V1Capabilities | undefined, at: string, v: string[]): void {
  if (!(caps?.drop ?? []).includes('ALL')) v.push(`${at}.drop must include ALL`);
  for (const cap of caps?.add ?? []) {
    if (cap !== 'NET_BIND_SERVICE') v.push(`${at}.add may only contain NET_BIND_SERVICE, not ${cap}`);
  }
}

function checkSeLinux(options: { type?: string; user?: string; role?: string } | undefined, at: string, v: string[]): void {
  if (options === undefined) return;
  if (!SELINUX_TYPES.has(options.type ?? '')) v.push(`${at}.type ${options.type} is not allowed`);
  if (options.user) v.push(`${at}.user must be unset`);
  if (options.role) v.push(`${at}.role must be unset`);
}

function checkAppArmor(type: string | undefined, at: string, v: string[]): void {
  if (type !== undefined && type !== 'RuntimeDefault' && type !== 'Localhost') v.push(`${at} must be RuntimeDefault or Localhost, not ${type}`);
}

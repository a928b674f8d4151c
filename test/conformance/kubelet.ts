// What the kubelet does between the Pod spec and the process it runs, for the parts templates use:
// env from values and Secrets, `$(VAR)` expansion in env values and args, volume mounts (here:
// host directories standing in for the volumes) and the user the container runs as.
import { chmod, chown, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';

/** Secret name -> key -> value (the decoded data of Secrets in the pod's namespace). */
export type Secrets = ReadonlyMap<string, Readonly<Record<string, string>>>;

/**
 * Kubernetes' expansion (third_party/forked/golang/expansion): `$(NAME)` becomes the value when
 * NAME is defined and stays as written when not; `$$` is an escaped `$`; any other `$` is literal.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const next = input[cursor + 1];
    if (next === '$') {
      out += '$';
      cursor += 1;
    } else if (next === '(') {
      const close = input.indexOf(')', cursor + 2);
      if (close === -1) {
        out += '$(';
        cursor += 1;
      } else {
        const name = input.slice(cursor + 2, close);
        out += lookup(name) ?? `$(${name})`;
        cursor = close;
      }
    } else {
      out += `$${next}`;
      cursor += 1;
    }
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/**
 * The container's environment as the kubelet builds it: in order, each `value` expanded against the
 * variables defined before it; `secretKeyRef` read from `secrets`. A missing Secret or key stops the
 * container (CreateContainerConfigError) unless the reference is optional, which skips the variable.
 */
export function resolveEnv(container: V1Container, secrets: Secrets): Map<string, string> {
  const env = new Map<string, string>();
  if (container.envFrom !== undefined && container.envFrom.length > 0) {
    throw new Error(`container ${container.name}: envFrom is not supported by the conformance harness`);
  }
  for (const variable of container.env ?? []) {
    if (variable.valueFrom === undefined) {
      env.set(variable.name, expand(variable.value ?? '', (name) => env.get(name)));
      continue;
    }
    const ref = variable.valueFrom.secretKeyRef;
    if (ref === undefined) {
      throw new Error(`container ${container.name}: env ${variable.name} uses a valueFrom source the conformance harness does not resolve (only secretKeyRef)`);
    }
    const secret = secrets.get(ref.name ?? '');
    const value = secret?.[ref.key];
    if (value === undefined) {
      if (ref.optional === true) continue;
      const what = secret === undefined ? `secret "${ref.name}" not found` : `couldn't find key ${ref.key} in Secret ${ref.name}`;
      throw new Error(`container ${container.name}: CreateContainerConfigError: ${what} (env ${variable.name})`);
    }
    env.set(variable.name, value);
  }
  return env;
}

/** command/args expanded against the final environment, as the kubelet does before starting the container. */
export function expandArgs(args: readonly string[], env: ReadonlyMap<string, string>): string[] {
  return args.map((arg) => expand(arg, (name) => env.get(name)));
}

export interface Mount {
  readonly volume: string;
  readonly mountPath: string;
  /** Where the volume's content is on this machine. */
  readonly hostPath: string;
  readonly readOnly: boolean;
  /** emptyDir: must stay writable even when the root filesystem is read-only. */
  readonly scratch: boolean;
}

export interface Runnable {
  readonly args: string[];
  readonly env: Map<string, string>;
  readonly mounts: Mount[];
  readonly runAsUser: number;
  readonly runAsGroup: number;
  /** The pod's fsGroup and supplementalGroups: every container's process gets them. */
  readonly supplementaryGroups: readonly number[];
  readonly readOnlyRootFilesystem: boolean;
}

/**
 * Everything needed to start `container` of `pod` outside a cluster. `volumeDirs` gives a host
 * directory for each pod volume the container mounts. Mount paths are replaced by those directories
 * in args and env values: the one liberty taken, since a mount namespace cannot create mount points
 * that do not exist on this machine.
 */
export function prepareContainer(container: V1Container, pod: V1Pod, secrets: Secrets, volumeDirs: ReadonlyMap<string, string>): Runnable {
  const env = resolveEnv(container, secrets);
  let args = expandArgs([...(container.command ?? []), ...(container.args ?? [])], env);
  const volumes = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
  const mounts: Mount[] = [];
  for (const m of container.volumeMounts ?? []) {
    const volume = volumes.get(m.name);
    if (volume === undefined) throw new Error(`container ${container.name}: volumeMount ${m.name} names no volume of the pod`);
    const hostPath = volumeDirs.get(m.name);
    if (hostPath === undefined) throw new Error(`container ${container.name}: no host directory stands in for volume ${m.name}`);
    mounts.push({ volume: m.name, mountPath: m.mountPath, hostPath, readOnly: m.readOnly === true, scratch: volume.emptyDir !== undefined });
  }
  const rewrite = mountRewriter(mounts);
  args = args.map(rewrite);
  for (const [name, value] of env) env.set(name, rewrite(value));

  const sc = container.securityContext ?? {};
  const podSc = pod.spec?.securityContext ?? {};
  const runAsUser = sc.runAsUser ?? podSc.runAsUser;
  if (runAsUser === undefined) throw new Error(`container ${container.name}: no runAsUser; the harness runs containers only as an explicit user`);
  return {
    args,
    env,
    mounts,
    runAsUser,
    runAsGroup: sc.runAsGroup ?? podSc.runAsGroup ?? runAsUser,
    supplementaryGroups: [...(podSc.fsGroup !== undefined ? [podSc.fsGroup] : []), ...(podSc.supplementalGroups ?? [])],
    readOnlyRootFilesystem: sc.readOnlyRootFilesystem === true,
  };
}

/** Mount paths replaced by their host directories (longest first, so /a/b is not rewritten through /a). */
function mountRewriter(mounts: readonly Mount[]): (text: string) => string {
  const byLength = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  return (text) => byLength.reduce((t, m) => replacePathPrefix(t, m.mountPath, m.hostPath), text);
}

/**
 * The same liberty as for args, inside the files of the Secret volumes the container mounts: a
 * config file naming another mounted file (a my.cnf's ssl-ca) must find it under its host directory.
 * Only mount paths change; mode and owner stay as the kubelet set them.
 */
export async function rewriteMountPathsInSecretFiles(r: Runnable, pod: V1Pod): Promise<void> {
  const secretVolumes = new Set((pod.spec?.volumes ?? []).filter((v) => v.secret !== undefined).map((v) => v.name));
  const rewrite = mountRewriter(r.mounts);
  for (const m of r.mounts.filter((mount) => secretVolumes.has(mount.volume))) {
    for (const entry of await readdir(m.hostPath, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = join(entry.parentPath, entry.name);
      const text = await readFile(file, 'utf8');
      const rewritten = rewrite(text);
      if (rewritten !== text) await writeFile(file, rewritten);
    }
  }
}

/** Replaces `prefix` where it stands as a whole path (followed by `/`, the end, or a non-path character). */
export function replacePathPrefix(text: string, prefix: string, replacement: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  if (trimmed === '') return text;
  let out = '';
  let from = 0;
  for (;;) {
    const at = text.indexOf(trimmed, from);
    if (at === -1) return out + text.slice(from);
    const after = text[at + trimmed.length];
    const before = at === 0 ? undefined : text[at - 1];
    const whole = (after === undefined || !/[A-Za-z0-9._-]/.test(after)) && (before === undefined || !/[A-Za-z0-9._/-]/.test(before));
    out += text.slice(from, at) + (whole ? replacement : trimmed);
    from = at + trimmed.length;
  }
}

/**
 * A Secret volume as the kubelet writes it into `dir`: the listed `items` (or every key), each file
 * with `defaultMode` (0644 when unset), owned by root and, with the pod's fsGroup, by that group with
 * group read added (the kubelet's SetVolumeOwnership for read-only volumes). A missing Secret or key
 * fails the mount, unless the volume is optional.
 */
export async function writeSecretVolume(volume: V1Volume, pod: V1Pod, secrets: Secrets, dir: string): Promise<void> {
  const source = volume.secret;
  if (source === undefined) throw new Error(`volume ${volume.name} is not a secret volume`);
  const data = secrets.get(source.secretName ?? '');
  if (data === undefined) {
    if (source.optional === true) return;
    throw new Error(`MountVolume.SetUp failed for volume "${volume.name}" : secret "${source.secretName}" not found`);
  }
  const items: { key: string; path: string; mode?: number }[] = source.items ?? Object.keys(data).map((key) => ({ key, path: key }));
  const fsGroup = pod.spec?.securityContext?.fsGroup;
  for (const item of items) {
    const value = data[item.key];
    if (value === undefined) {
      if (source.optional === true) continue;
      throw new Error(`MountVolume.SetUp failed for volume "${volume.name}" : references non-existent secret key: ${item.key}`);
    }
    const relative = normalize(item.path);
    if (relative.startsWith('..') || relative.startsWith('/')) throw new Error(`volume ${volume.name}: item path ${item.path} leaves the volume`);
    const file = join(dir, relative);
    await mkdir(dirname(file), { recursive: true, mode: 0o755 });
    let mode = item.mode ?? source.defaultMode ?? 0o644;
    await writeFile(file, value, { mode });
    if (fsGroup !== undefined) {
      await chown(file, 0, fsGroup);
      mode |= 0o440;
    }
    await chmod(file, mode);
  }
}

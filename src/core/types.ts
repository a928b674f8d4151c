// Types shared by every stage of the core pipeline and by the edges that call it.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { ErrorCode } from '../errors.js';
import type { ParamKindName, SecretFile } from './param-kinds.js';

export type Pod = V1Pod;
export type Container = V1Container;

/** The annotation prefix of the user contract (DESIGN.md §2). */
export const PREFIX = 'exporter-injector.io/';

/**
 * Set by the kubelet on the API copy of a static pod. The kubelet runs the manifest from disk, not the
 * copy, so injecting into a mirror pod could only make the copy lie about what runs.
 */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

/** The pod's container lists, and what a container in each is called in messages. */
export const CONTAINER_LISTS = [
  ['initContainers', 'init container'],
  ['containers', 'container'],
  ['ephemeralContainers', 'ephemeral container'],
] as const;

export type Policy = 'required' | 'optional';
export type ScrapeMode = 'auto' | 'override' | 'off';
export type SidecarMode = 'native' | 'classic';
/**
 * `template`: the exporter runs as the template's runAsUser/runAsGroup. `omit`: they are left out
 * where the image declares a numeric non-root USER, so a platform that assigns UIDs (OpenShift's
 * restricted-v2 SCC) can pick one from the namespace's range; runAsNonRoot stays.
 */
export type RunAsUserMode = 'template' | 'omit';

// ---------------------------------------------------------------------------------------------
// Templates (validated and frozen by registry/load.ts; the core only reads them)

/** How the exporter learns what to scrape; decides how a `target` value is validated. */
export type TargetFormat = 'url' | 'hostport' | 'dsn' | 'none';

export interface TemplateParam {
  /** The `<param>` in `exporter-injector.io/<template>.<param>`. */
  readonly name: string;
  readonly description: string;
  /** What the value is and what it adds to the exporter: see core/param-kinds.ts. */
  readonly kind: ParamKindName;
  /** arg: the flag with `{value}`; configMap, podVolume: a fixed flag added when the value is given. */
  readonly arg?: string;
  /** secretFiles: fixed flags added when the value is given (naming the mounted files). */
  readonly args?: readonly string[];
  readonly env?: string;
  readonly mountPath?: string;
  /** secretFiles: the Secret keys mounted, each as a file under mountPath. */
  readonly files?: readonly SecretFile[];
  /** A full-match regular expression the value must satisfy (arg and env kinds). */
  readonly pattern?: string;
  readonly required: boolean;
}

export interface TemplateCredential {
  /** Environment variable set from the Secret named by `<template>.secret`. */
  readonly env: string;
  /** Key in that Secret. */
  readonly key: string;
  /** Without `<template>.secret` the pod is refused when a credential is required. */
  readonly required: boolean;
}

export interface TemplateListen {
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  /** What the port is for, for messages (e.g. "StatsD ingest"). */
  readonly description: string;
}

export interface TemplateProbe {
  readonly path: string;
  readonly initialDelaySeconds?: number;
  readonly periodSeconds?: number;
  readonly timeoutSeconds?: number;
  readonly failureThreshold?: number;
}

export interface ExporterTemplate {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  /** Where the facts come from (reference/exporters.md section, upstream repo). */
  readonly source: string;
  readonly image: string;
  /** Container name; `<name>-exporter` unless the template says otherwise. */
  readonly containerName: string;
  readonly port: number;
  /** Named container port, ≤ 15 characters (IANA_SVC_NAME). */
  readonly portName: string;
  readonly path: string;
  readonly scheme: 'http' | 'https';
  /**
   * Other ports the exporter binds (a push bridge's ingest port, for example), clash-checked
   * against the pod like the metrics port and listed, unnamed, among the container's ports.
   * Absent rather than empty, so templates without any keep their hash.
   */
  readonly listens?: readonly TemplateListen[];
  readonly target: { readonly format: TargetFormat; readonly default: string };
  /**
   * Container args and env values; `{port}`, `{path}` and `{target}` are replaced with the
   * (validated) values. A template that does not mention `{port}` cannot move its port, and so on.
   */
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly credentials: readonly TemplateCredential[];
  readonly params: readonly TemplateParam[];
  readonly resources: {
    readonly requests: { readonly cpu: string; readonly memory: string };
    readonly limits: { readonly memory: string; readonly cpu?: string };
  };
  readonly securityContext: {
    /** Required for images whose USER is root or non-numeric: the PSS needs a provable non-root UID. */
    readonly runAsUser: number;
    readonly runAsGroup?: number;
    readonly readOnlyRootFilesystem: boolean;
    /**
     * The image's Dockerfile says `USER <numeric uid>` (not root, not a name): the kubelet can then
     * prove runAsNonRoot without runAsUser, so `run-as-user: omit` (OpenShift) may leave it out.
     * Absent means false: only set it where the upstream Dockerfile at the pinned tag was checked.
     */
    readonly imageUserIsNumericNonRoot?: boolean;
  };
  /**
   * Liveness only: a sidecar's readiness counts towards the pod's, and a native sidecar's startup
   * probe holds back the app's start; an exporter must do neither.
   */
  readonly probes: { readonly liveness?: TemplateProbe };
  /** Pod-level needs the pod must already meet; the injector never grants them itself. */
  readonly requires: { readonly shareProcessNamespace?: boolean };
  /** An emptyDir mounted here when the root filesystem is read-only but the exporter writes (e.g. /tmp). */
  readonly scratchDir?: string;
  /** sha256 of the template's canonical JSON, recorded in the status annotation to find drift. */
  readonly hash: string;
}

/** A validated, frozen set of templates, compiled once at load. */
export interface Registry {
  readonly templates: ReadonlyMap<string, ExporterTemplate>;
}

// ---------------------------------------------------------------------------------------------
// Settings the core needs (validated at the edge by config/)

export interface CoreSettings {
  /** Namespaces never injected, whatever the pod says (defence in depth behind the namespaceSelector). */
  readonly ignoredNamespaces: readonly string[];
  /** `native` unless the cluster is older than 1.29 (serve reads the version). */
  readonly defaultSidecarMode: SidecarMode;
  /** Unset means `template`; a pod's `run-as-user` annotation wins. */
  readonly runAsUser?: RunAsUserMode;
}

// ---------------------------------------------------------------------------------------------
// Outcome of one admission

/** Why nothing was injected. Closed: the values are also metric and log labels. */
export type SkipReason =
  | 'not-a-pod'
  | 'not-create'
  | 'subresource'
  | 'ignored-namespace'
  | 'not-opted-in'
  | 'mirror-pod'
  | 'already-injected'
  | 'problems-ignored';

export type Decision = 'injected' | 'skipped' | 'denied';

export interface Problem {
  readonly code: ErrorCode;
  /** Names the annotation, the bad value and what would be valid. */
  readonly message: string;
}

export interface Outcome {
  readonly decision: Decision;
  /** `injected`, `denied`, or a SkipReason. */
  readonly reason: 'injected' | 'denied' | SkipReason;
  readonly templates: readonly string[];
  readonly warnings: readonly string[];
  readonly problems: readonly Problem[];
  readonly patchOperations: number;
}

// ---------------------------------------------------------------------------------------------
// AdmissionReview admission.k8s.io/v1 (the subset we read and write)

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly resource?: { group: string; version: string; resource: string };
  readonly subResource?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly operation: string;
  readonly object?: unknown;
  readonly dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch document. */
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string; reason?: string };
}

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

// Step 1: an example pod goes through the core exactly as the webhook would take it (a CREATE
// AdmissionReview, the base64 JSON Patch of the answer applied to the pod), and the injected
// exporter container is found through the status annotation.
import type { V1Container } from '@kubernetes/client-node';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1/Pod';
import { admit } from '../../src/core/admit.js';
import { ANNOTATION } from '../../src/core/annotations.js';
import { DEFAULT_CORE_SETTINGS } from '../../src/core/defaults.js';
import { syntheticReview } from '../../src/core/review.js';
import { PREFIX, type Pod, type Registry } from '../../src/core/types.js';

export const NAMESPACE = 'conformance';

export interface ExamplePod {
  readonly template: string;
  readonly name: string;
  /** The application container(s) the exporter sits beside. */
  readonly containers: V1Container[];
  /** `<template>.<param>` values (without the prefix). */
  readonly params: Readonly<Record<string, string>>;
  readonly spec?: Partial<NonNullable<Pod['spec']>>;
}

export function examplePod(example: ExamplePod): Pod {
  const annotations: Record<string, string> = { [ANNOTATION.inject]: example.template };
  for (const [param, value] of Object.entries(example.params)) annotations[`${PREFIX}${example.template}.${param}`] = value;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: example.name, namespace: NAMESPACE, labels: { app: example.template }, annotations },
    spec: { ...example.spec, containers: example.containers },
  };
}

export interface Injected {
  readonly pod: Pod;
  readonly exporter: V1Container;
  readonly warnings: readonly string[];
}

interface StatusRecord {
  templates?: { name?: string; container?: string }[];
  sidecar?: string;
}

export function inject(pod: Pod, registry: Registry, template: string): Injected {
  const { review, outcome } = admit(syntheticReview(pod, NAMESPACE, `conformance-${template}`), registry, DEFAULT_CORE_SETTINGS);
  const response = review.response;
  if (!response.allowed) throw new Error(`the core denied the example pod: ${response.status?.message ?? 'no message'}`);
  if (outcome.decision !== 'injected' || response.patch === undefined) {
    throw new Error(`the core did not inject the example pod (${outcome.reason}): ${[...outcome.warnings].join('; ')}`);
  }
  // The patch as the API server receives it, not the in-memory one.
  const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
  const injected = jsonPatch.applyPatch(structuredClone(pod), patch, true, false).newDocument;
  // The API server would reject an invalid pod; so does the harness.
  new PodModel(injected as ConstructorParameters<typeof PodModel>[0]).validate();

  const raw = injected.metadata?.annotations?.[ANNOTATION.status];
  if (raw === undefined) throw new Error(`the injected pod has no ${ANNOTATION.status} annotation`);
  const status = JSON.parse(raw) as StatusRecord;
  const name = status.templates?.find((t) => t.name === template)?.container;
  if (name === undefined) throw new Error(`${ANNOTATION.status} does not record template "${template}": ${raw}`);
  const pool = status.sidecar === 'classic' ? injected.spec?.containers : injected.spec?.initContainers;
  const exporter = pool?.find((c) => c.name === name);
  if (exporter === undefined) throw new Error(`container "${name}" named by ${ANNOTATION.status} is not in the injected pod (${status.sidecar ?? 'native'} sidecar)`);
  return { pod: injected, exporter, warnings: response.warnings ?? [] };
}

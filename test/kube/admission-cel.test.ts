// The CEL the admission objects ship, evaluated by a real CEL engine on the variables the API server gives
// (object = the pod, oldObject = null, request = the admission attributes), must agree with the core: the
// webhook is called exactly for the pods admit() would not skip as not-opted-in or mirror-pod, each such pod
// goes to exactly one of the two webhooks (by its policy, as the core reads it), and the final-state policy
// flags exactly the opted-in pods that end up without the status annotation.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import jsonPatch from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { loadCoreContext, type CoreContext } from '../../src/cli/core-context.js';
import { podSites } from '../../src/cli/workloads.js';
import { admit } from '../../src/core/admit.js';
import { parseOptIn } from '../../src/core/annotations.js';
import { decodeReview, podOf, syntheticReview } from '../../src/core/review.js';
import { isInjectorError } from '../../src/errors.js';
import type { Pod } from '../../src/core/types.js';
import { HAS_STATUS, NOT_MIRROR_POD, OPTED_IN, POLICY_OPTIONAL, POLICY_REQUIRED } from '../../src/kube/admission-cel.js';
import { desiredAdmissionObjects } from '../../src/kube/admission-objects.js';
import { POLICY_WEBHOOK_NAMES } from '../../src/kube/webhook-config.js';
import { allTrue, evaluate } from './cel.js';

const TESTDATA = join(import.meta.dirname, '..', 'testdata');
const EXAMPLES = join(import.meta.dirname, '..', '..', 'deploy', 'examples');
/** A namespace no selector excludes: the namespaceSelector is checked elsewhere, this is about the conditions. */
const NAMESPACE = 'corpus';

interface CorpusPod {
  readonly label: string;
  readonly pod: Pod;
}

/**
 * Every pod (bare or in a workload's template) of every YAML file in `dir` that the API server would accept:
 * a manifest the core refuses as not a valid Pod (a golden case with a number as an annotation value) is
 * rejected by the API server's decoding before any admission, so no condition ever sees it.
 */
function podsOfDir(dir: string): CorpusPod[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(dir, file), 'utf8')).flatMap((doc) =>
        podSites(doc.toJS(), NAMESPACE).map((site) => ({ label: `${file}: ${site.label}`, pod: site.pod })),
      ),
    )
    .filter(({ pod }) => {
      try {
        podOf(decodeReview(syntheticReview(structuredClone(pod), NAMESPACE)));
        return true;
      } catch (e) {
        if (isInjectorError(e, 'EI_ERR_REVIEW_OBJECT')) return false;
        throw e;
      }
    });
}

/** The corpus file: hand-written pods with tricky annotations (see its header). */
function corpusFile(): CorpusPod[] {
  return podsOfDir(join(TESTDATA, 'admission'));
}

// Combinations of the annotations the conditions read, including the ones people get wrong.
const INJECT_VALUES = [
  undefined, '', ' ', ',', ' , ', ',,', 'redis', ' redis ', 'redis,', ',redis', 'redis,statsd', 'redis , statsd', 'false', ' false ', 'false,',
  ',false', ' , false , ', 'False', 'FALSE', 'no', '0', 'false,redis', 'redis,false', 'false,false', 'fal se', 'nosuchtemplate', 'Redis',
  '\tfalse\n', '\u00a0', '\u00a0redis\u3000', '\ufefffalse', 'false\u2028', '\u200bfalse', 'redis;statsd', '"redis"', 'true',
] as const;
const POLICY_VALUES = [undefined, 'required', 'optional', ' optional ', 'Optional', 'OPTIONAL', '', 'optional,', 'bogus', '\u00a0optional\t'] as const;

function combinations(): CorpusPod[] {
  const pods: CorpusPod[] = [];
  for (const inject of INJECT_VALUES) {
    for (const policy of POLICY_VALUES) {
      for (const mirror of [false, true]) {
        const annotations: Record<string, string> = {};
        if (inject !== undefined) annotations['exporter-injector.io/inject'] = inject;
        if (policy !== undefined) annotations['exporter-injector.io/policy'] = policy;
        if (mirror) annotations['kubernetes.io/config.mirror'] = 'a7b3c4d5e6f708192a3b4c5d6e7f8091';
        pods.push({
          label: `inject=${JSON.stringify(inject)} policy=${JSON.stringify(policy)} mirror=${mirror}`,
          pod: {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'combo', ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
            spec: { containers: [{ name: 'app', image: 'redis:7.2', ports: [{ containerPort: 6379 }] }] },
          },
        });
      }
    }
  }
  return pods;
}

/** The API server's `request` variable: the admission attributes, without the object itself. */
function requestOf(pod: Pod): unknown {
  const { object: _, ...request } = (syntheticReview(pod, NAMESPACE) as { request: Record<string, unknown> }).request;
  return { ...request, userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] } };
}

let context: CoreContext;
let corpus: { golden: CorpusPod[]; file: CorpusPod[]; combinations: CorpusPod[] };
before(async () => {
  context = await loadCoreContext({});
  // The golden cases and the bundled examples are what users copy; the file and the combinations are the edge cases.
  corpus = { golden: [...podsOfDir(join(TESTDATA, 'inject')), ...podsOfDir(EXAMPLES)], file: corpusFile(), combinations: combinations() };
});

describe('matchConditions agree with the core', () => {
  const objects = desiredAdmissionObjects();
  const hooks = new Map((objects.webhookConfiguration.webhooks ?? []).map((w) => [w.name, w.matchConditions ?? []]));

  it('the corpus is large and varied enough to mean something', () => {
    assert.ok(corpus.golden.length >= 30, `golden pods: ${corpus.golden.length}`);
    assert.ok(corpus.file.length >= 40, `corpus file pods: ${corpus.file.length}`);
    assert.ok(corpus.combinations.length >= 300);
  });

  for (const part of ['golden', 'file', 'combinations'] as const) {
    it(`${part}: a webhook is called exactly when admit() does not skip the pod as not-opted-in or mirror-pod; each goes to one webhook, by its policy`, () => {
      let called = 0;
      let skipped = 0;
      const disagreements: string[] = [];
      for (const { label, pod } of corpus[part]) {
        const variables = { object: pod, oldObject: null, request: requestOf(pod) };
        const required = allTrue(hooks.get(POLICY_WEBHOOK_NAMES.required) ?? [], variables);
        const optional = allTrue(hooks.get(POLICY_WEBHOOK_NAMES.optional) ?? [], variables);
        const reason = admit(syntheticReview(structuredClone(pod), NAMESPACE), context.registry, context.settings).outcome.reason;
        const coreWantsIt = reason !== 'not-opted-in' && reason !== 'mirror-pod';
        if (required || optional) called++;
        else skipped++;
        if (required && optional) disagreements.push(`${label}: sent to both webhooks`);
        if ((required || optional) !== coreWantsIt) disagreements.push(`${label}: condition ${required || optional}, core ${reason}`);
        if (coreWantsIt) {
          const parsed = parseOptIn(pod.metadata?.annotations);
          const policy = parsed.optedIn ? parsed.optIn.policy : undefined;
          if (optional !== (policy === 'optional')) disagreements.push(`${label}: optional webhook ${optional}, core reads policy ${policy}`);
        }
      }
      // The figures for the report (node --test prints diagnostics with the test).
      console.log(`# CEL agreement (${part}): pods ${corpus[part].length}, called ${called}, skipped ${skipped}, disagreements ${disagreements.length}`);
      assert.deepEqual(disagreements, []);
      assert.ok(called > 0 && skipped > 0, 'both outcomes occur');
    });
  }

  it('mirror pods are skipped by the core with their own reason, and never sent', () => {
    const mirror: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'etcd-node1', annotations: { 'kubernetes.io/config.mirror': 'abc', 'exporter-injector.io/inject': 'redis' } },
      spec: { containers: [{ name: 'etcd', image: 'etcd' }] },
    };
    assert.equal(admit(syntheticReview(mirror, NAMESPACE), context.registry, context.settings).outcome.reason, 'mirror-pod');
    assert.equal(evaluate(NOT_MIRROR_POD, { object: mirror }), false);
    assert.equal(evaluate(OPTED_IN, { object: mirror }), true);
  });

  it('a pod with no metadata.annotations at all, or an empty map, is not sent and does not make an expression fail', () => {
    for (const metadata of [{ name: 'bare' }, { name: 'empty', annotations: {} }, { name: 'labels-only', labels: { 'exporter-injector.io/inject': 'redis' } }]) {
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers: [] } };
      for (const e of [OPTED_IN, POLICY_OPTIONAL, HAS_STATUS]) assert.equal(evaluate(e, { object: pod }), false, `${metadata.name}: ${e}`);
      for (const e of [NOT_MIRROR_POD, POLICY_REQUIRED]) assert.equal(evaluate(e, { object: pod }), true, `${metadata.name}: ${e}`);
    }
  });

  it('a malformed policy goes to the required (Fail) webhook, as the core fails safe to required', () => {
    const pod = { metadata: { name: 'p', annotations: { 'exporter-injector.io/inject': 'redis', 'exporter-injector.io/policy': 'optinal' } } };
    assert.equal(evaluate(POLICY_REQUIRED, { object: pod }), true);
    assert.equal(evaluate(POLICY_OPTIONAL, { object: pod }), false);
    const webhook = objects.webhookConfiguration.webhooks?.find((w) => w.name === POLICY_WEBHOOK_NAMES.required);
    assert.equal(webhook?.failurePolicy, 'Fail');
  });
});

describe('the final-state ValidatingAdmissionPolicy agrees with the core', () => {
  const { policy } = desiredAdmissionObjects();
  const matchConditions = policy?.spec?.matchConditions ?? [];
  const validations = policy?.spec?.validations ?? [];
  /** What the API server does: the policy applies when every matchCondition is true; a false validation is a violation. */
  const flags = (pod: Pod): boolean => allTrue(matchConditions, { object: pod, oldObject: null, request: requestOf(pod) }) && !allTrue(validations, { object: pod, oldObject: null, request: requestOf(pod) });

  it('has conditions and a validation to evaluate', () => {
    assert.ok(matchConditions.length > 0 && validations.length === 1);
  });

  for (const part of ['golden', 'file', 'combinations'] as const) {
    it(`${part}: after the webhook, only opted-in pods it did not inject are flagged; with the webhook down, every opted-in pod is`, () => {
      let flagged = 0;
      let passed = 0;
      const disagreements: string[] = [];
      for (const { label, pod } of corpus[part]) {
        const result = admit(syntheticReview(structuredClone(pod), NAMESPACE), context.registry, context.settings);
        const reason = result.outcome.reason;
        const optedIn = reason !== 'not-opted-in' && reason !== 'mirror-pod';
        // The webhook answered: a denied pod never reaches validation; otherwise the patched pod does.
        if (result.outcome.decision !== 'denied') {
          const final = jsonPatch.applyPatch(structuredClone(pod), [...result.patch], true, false).newDocument;
          const expected = optedIn && final.metadata?.annotations?.['exporter-injector.io/status'] === undefined;
          const got = flags(final);
          if (got) flagged++;
          else passed++;
          if (got !== expected) disagreements.push(`${label} (webhook ${reason}): flagged ${got}, expected ${expected}`);
        }
        // The webhook was down and failed open: the pod arrives as sent.
        const hadStatus = pod.metadata?.annotations?.['exporter-injector.io/status'] !== undefined;
        if (flags(pod) !== (optedIn && !hadStatus)) disagreements.push(`${label} (webhook down): flagged ${flags(pod)}, expected ${optedIn && !hadStatus}`);
      }
      console.log(`# final-state policy (${part}): admitted pods flagged ${flagged}, passed ${passed}, disagreements ${disagreements.length}`);
      assert.deepEqual(disagreements, []);
    });
  }

  it('with Deny, pods with policy optional are spared (they asked to be created without the exporter on failure)', () => {
    const deny = desiredAdmissionObjects({ validationAction: 'Deny' }).policy?.spec?.matchConditions ?? [];
    for (const { label, pod } of corpus.combinations) {
      const parsed = parseOptIn(pod.metadata?.annotations);
      const mirror = pod.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined;
      const expected = parsed.optedIn && !mirror && parsed.optIn.policy === 'required';
      assert.equal(allTrue(deny, { object: pod, oldObject: null, request: requestOf(pod) }), expected, label);
    }
  });

  it('an injected golden pod passes; the same pod with its status annotation removed is flagged', () => {
    const injected = corpus.golden.map(({ pod }) => {
      const r = admit(syntheticReview(structuredClone(pod), NAMESPACE), context.registry, context.settings);
      return r.outcome.decision === 'injected' ? (jsonPatch.applyPatch(structuredClone(pod), [...r.patch], true, false).newDocument as Pod) : undefined;
    }).filter((p) => p !== undefined);
    assert.ok(injected.length >= 20);
    for (const pod of injected) {
      assert.equal(flags(pod), false);
      delete pod.metadata?.annotations?.['exporter-injector.io/status'];
      assert.equal(flags(pod), true);
    }
  });
});

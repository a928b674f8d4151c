// kube edge: every CEL expression the admission objects carry, in one place, so the tests evaluate exactly
// what ships (test/kube/admission-cel.test.ts runs them in a real CEL engine against the core's decisions).
//
// Each expression mirrors one rule of the core (src/core/annotations.ts parseOptIn, src/core/admit.ts):
// the API server must send a pod exactly when the core would not skip it as `not-opted-in` or `mirror-pod`.
import type { V1MatchCondition } from '@kubernetes/client-node';
import { ANNOTATION } from '../core/annotations.js';
import type { Policy } from '../core/types.js';
import { MIRROR_POD_ANNOTATION } from '../core/types.js';

/**
 * The characters JavaScript's String.prototype.trim() removes (WhiteSpace and LineTerminator of ECMA-262:
 * TAB, VT, FF, ZWNBSP, every Space_Separator, LF, CR, LS, PS), as an RE2 class body. The core trims with
 * trim(); CEL's `trim()` (strings extension) uses a different set and is not on every API server, while
 * `matches()` (RE2) is in every Kubernetes CEL environment, so the conditions test with this class.
 */
const TRIMMED = String.raw`\t\n\v\f\r\x{FEFF}\x{2028}\x{2029}\p{Zs}`;

const annotations = 'object.metadata.annotations';
const hasAnnotation = (key: string): string => `has(${annotations}) && '${key}' in ${annotations}`;
const annotation = (key: string): string => `${annotations}['${key}']`;

/**
 * `inject` is present, lists at least one non-blank item, and is not `false` alone: parseOptIn splits on
 * commas, trims, drops empty items, and reads the single item `false` as "no".
 */
export const OPTED_IN = [
  hasAnnotation(ANNOTATION.inject),
  `${annotation(ANNOTATION.inject)}.matches(r'[^,${TRIMMED}]')`,
  `!${annotation(ANNOTATION.inject)}.matches(r'^[,${TRIMMED}]*false[,${TRIMMED}]*$')`,
].join(' && ');

/** Not the kubelet's API copy of a static pod (admit skips those as `mirror-pod`). */
export const NOT_MIRROR_POD = `!(${hasAnnotation(MIRROR_POD_ANNOTATION)})`;

/** `policy: optional`, trimmed, exactly as the core reads it. */
export const POLICY_OPTIONAL = `${hasAnnotation(ANNOTATION.policy)} && ${annotation(ANNOTATION.policy)}.matches(r'^[${TRIMMED}]*optional[${TRIMMED}]*$')`;

/** Everything else is `required`: absent, `required`, or malformed (the core fails safe to required). */
export const POLICY_REQUIRED = `!(${POLICY_OPTIONAL})`;

/** The injector's record on an injected pod; its absence on an opted-in pod means the webhook did not inject. */
export const HAS_STATUS = hasAnnotation(ANNOTATION.status);

/** Names of the match conditions (qualified names: they appear in API server errors and audit logs). */
export const CONDITION_NAMES = Object.freeze({
  optedIn: 'opted-in',
  notMirrorPod: 'not-a-mirror-pod',
  policy: (policy: Policy): string => `policy-${policy}`,
});

/** Sends only opted-in pods that are not mirror pods. */
export function optInConditions(): V1MatchCondition[] {
  return [
    { name: CONDITION_NAMES.optedIn, expression: OPTED_IN },
    { name: CONDITION_NAMES.notMirrorPod, expression: NOT_MIRROR_POD },
  ];
}

/** The opt-in conditions plus the split on the pod's policy, for the webhook entry serving `policy`. */
export function webhookConditions(policy: Policy): V1MatchCondition[] {
  return [...optInConditions(), { name: CONDITION_NAMES.policy(policy), expression: policy === 'optional' ? POLICY_OPTIONAL : POLICY_REQUIRED }];
}

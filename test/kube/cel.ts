// Evaluates shipped CEL expressions in a real CEL engine (@bufbuild/cel, conformance-tested against
// cel-spec) on the variables the API server provides to admission matchConditions and policies.
import { celEnv, isCelError, parse, plan, type CelInput } from '@bufbuild/cel';

/** JSON (a pod, an admission request) as CEL values: objects become maps, as the API server's unstructured objects. */
export function toCel(value: unknown): CelInput {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(toCel) as CelInput;
  if (typeof value === 'object') return new Map(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, toCel(v)])) as CelInput;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return value as CelInput;
}

// Only the standard library: the expressions must not need an extension some API servers lack.
const env = celEnv();
const compiled = new Map<string, ReturnType<typeof plan>>();

/** Evaluates `expression` (compiled once); throws with the engine's message if it does not yield a bool. */
export function evaluate(expression: string, variables: { object: unknown; oldObject?: unknown; request?: unknown }): boolean {
  let program = compiled.get(expression);
  if (!program) {
    program = plan(env, parse(expression));
    compiled.set(expression, program);
  }
  const result = program({ object: toCel(variables.object), oldObject: toCel(variables.oldObject ?? null), request: toCel(variables.request ?? null) });
  if (isCelError(result)) throw new Error(`CEL error in ${expression}: ${result.message}`);
  if (typeof result !== 'boolean') throw new Error(`CEL ${expression} yielded ${String(result)}, not a bool`);
  return result;
}

/** What the API server does with a list of matchConditions: call only when every one is true. */
export function allTrue(conditions: readonly { expression: string }[], variables: Parameters<typeof evaluate>[1]): boolean {
  // All are evaluated, as the API server does: an error in any one must fail the test, not hide behind a false.
  return conditions.map((c) => evaluate(c.expression, variables)).every(Boolean);
}

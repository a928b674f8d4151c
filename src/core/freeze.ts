// Frozen values: the registry's templates and the cached renderings and injections are shared by
// every request, so they are frozen whole; what is derived from a value known to be frozen whole may
// be kept with it (core/patch.ts keeps the patches of frozen changes).

/** Freezes `value` and everything it holds; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** True when `value` and everything it holds are frozen. */
export function isDeepFrozen(value: object): boolean {
  if (!Object.isFrozen(value)) return false;
  for (const v of Object.values(value)) if (typeof v === 'object' && v !== null && !isDeepFrozen(v)) return false;
  return true;
}

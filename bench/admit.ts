// The core alone: admit() calls per second on a parsed review, no HTTP, no TLS.
import { admit } from '../src/core/admit.js';
import type { CoreSettings, Registry } from '../src/core/types.js';

export function admitOpsPerSecond(review: unknown, registry: Registry, settings: CoreSettings, seconds: number): number {
  // Warm the JIT before timing.
  for (let i = 0; i < 2000; i += 1) admit(review, registry, settings);
  let ops = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 200; i += 1) admit(review, registry, settings);
    ops += 200;
  }
  return ops / (Number(process.hrtime.bigint() - start) / 1e9);
}

// Golden files: compare, rewrite with REFRESH_GOLDEN=1, and find files no case owns any more.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const REFRESH = process.env.REFRESH_GOLDEN === '1';

/** Asserts `actual` equals the golden file, or (re)writes it under REFRESH_GOLDEN=1. Absent content means the file must not exist. */
export function assertGolden(path: string, actual: string | undefined): void {
  if (REFRESH) {
    if (actual === undefined) rmSync(path, { force: true });
    else writeFileSync(path, actual);
    return;
  }
  if (actual === undefined) {
    assert.ok(!existsSync(path), `${path} exists but this case produces no such output (REFRESH_GOLDEN=1 removes it)`);
    return;
  }
  assert.ok(existsSync(path), `${path} is missing (REFRESH_GOLDEN=1 writes it)`);
  assert.equal(actual, readFileSync(path, 'utf8'), `${path} differs (REFRESH_GOLDEN=1 rewrites it after review)`);
}

/** Case names `<case>.yaml` in a folder, and the files that belong to no case. */
export function discoverCases(dir: string, suffixes: readonly string[]): { cases: string[]; stale: string[] } {
  const files = readdirSync(dir);
  const cases = files.filter((f) => f.endsWith('.yaml') && !f.endsWith('.settings.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();
  const owned = new Set(cases.flatMap((c) => [`${c}.yaml`, ...suffixes.map((s) => `${c}.yaml${s}`), `${c}.settings.yaml`]));
  return { cases, stale: files.filter((f) => !owned.has(f)).map((f) => join(dir, f)) };
}

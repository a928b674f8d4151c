// Golden files: compare, rewrite with REFRESH_GOLDEN=1, and find files no case owns any more.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { loadCoreContext, type CoreContext } from '../../src/cli/core-context.js';

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

// The inject cases: test/testdata/inject/<case>.yaml, run by test/golden.test.ts (core, CLI,
// kubectl) and test/golden-server.test.ts (the webhook). Relative to the checkout, so messages
// (which name the file) read the same in every clone.
export const INJECT_DIR = relative(process.cwd(), new URL('../testdata/inject/', import.meta.url).pathname);
export const INJECT_SUFFIXES = ['.injected', '.error', '.warnings'] as const;

/** A case's `<case>.settings.yaml`: what the cluster or the command line would change. */
export interface CaseSettings {
  readonly sidecarMode?: 'native' | 'classic';
  readonly templates?: string;
  readonly namespace?: string;
}

export function caseSettings(name: string): CaseSettings {
  const file = join(INJECT_DIR, `${name}.settings.yaml`);
  return existsSync(file) ? (parse(readFileSync(file, 'utf8')) as CaseSettings) : {};
}

/** The registry and settings for a case, from the loaders `inject` and `serve` use. */
export function caseContext(s: CaseSettings): Promise<CoreContext> {
  return loadCoreContext({ ...(s.templates ? { templates: join(INJECT_DIR, '..', s.templates) } : {}), ...(s.sidecarMode ? { 'sidecar-mode': s.sidecarMode } : {}) });
}

/** The same settings as `inject` flags. */
export function caseFlags(s: CaseSettings): string[] {
  return [
    ...(s.sidecarMode ? ['--sidecar-mode', s.sidecarMode] : []),
    ...(s.templates ? ['--templates', join(INJECT_DIR, '..', s.templates)] : []),
    ...(s.namespace ? ['-n', s.namespace] : []),
  ];
}

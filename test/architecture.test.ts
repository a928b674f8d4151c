// The shape of DESIGN.md §3: the core is pure, and nothing below the CLI imports the CLI.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

const SRC = new URL('../src/', import.meta.url).pathname;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2] ?? '');
}

describe('architecture', () => {
  it('src/core imports only its siblings, errors.ts, fast-json-patch and types', () => {
    const allowed = (spec: string) =>
      spec.startsWith('./') || spec === '../errors.js' || spec === 'fast-json-patch' || spec === '@kubernetes/client-node';
    const offenders = filesUnder(join(SRC, 'core')).flatMap((f) => importsOf(f).filter((s) => !allowed(s)).map((s) => `${relative(SRC, f)} imports ${s}`));
    assert.deepEqual(offenders, []);
  });

  it('src/core uses @kubernetes/client-node for types only', () => {
    const offenders = filesUnder(join(SRC, 'core')).filter((f) => /import\s+(?!type\b)[^;]*from\s+'@kubernetes\/client-node'/.test(readFileSync(f, 'utf8')));
    assert.deepEqual(offenders.map((f) => relative(SRC, f)), []);
  });

  it('nothing outside src/cli imports the CLI', () => {
    const offenders = filesUnder(SRC)
      .filter((f) => !relative(SRC, f).startsWith('cli/'))
      .flatMap((f) => importsOf(f).filter((s) => /\/cli\//.test(s)).map((s) => `${relative(SRC, f)} imports ${s}`));
    assert.deepEqual(offenders, []);
  });
});

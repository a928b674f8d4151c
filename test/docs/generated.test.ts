// Tables in docs/ that mirror code are generated from it: the error catalog (src/errors.ts) and each
// command's flags (its spec, via --help). A change to the code without the docs fails here;
// `REFRESH_DOCS=1 node --import tsx --test test/docs/generated.test.ts` rewrites the sections.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../src/cli/main.js';
import { helpText } from '../../src/config/flags.js';
import { ERROR_CODES, EXIT_MEANINGS, type ErrorSpec } from '../../src/errors.js';
import { loadRegistry } from '../../src/registry/load.js';

const DOCS = new URL('../../docs/', import.meta.url);

/** Replaces (or checks) the text between the section's markers in a docs page. */
function section(page: string, name: string, body: string): void {
  const file = new URL(page, DOCS);
  const text = readFileSync(file, 'utf8');
  const begin = `<!-- generated:${name} (from the code by test/docs/generated.test.ts; REFRESH_DOCS=1 rewrites it) -->`;
  const end = `<!-- /generated:${name} -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  assert.ok(from >= 0 && to > from, `${page} has the markers of section ${name}:\n${begin}\n${end}`);
  const current = text.slice(from + begin.length, to);
  const wanted = `\n${body.trimEnd()}\n`;
  if (process.env.REFRESH_DOCS) writeFileSync(file, text.slice(0, from + begin.length) + wanted + text.slice(to));
  else assert.equal(current, wanted, `${page} section ${name} is out of date with the code; run with REFRESH_DOCS=1`);
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/</g, '&lt;');

describe('docs generated from the code', () => {
  it('docs/errors.md lists every error code with its meaning, HTTP status and exit code', () => {
    const rows = Object.entries(ERROR_CODES).map(([code, spec]: [string, ErrorSpec]) => `| \`${code}\` | ${cell(spec.description)} | ${spec.http ?? '—'} | ${spec.exit} |`);
    section('errors.md', 'errors', ['| code | what it means | HTTP status | CLI exit code |', '|---|---|---|---|', ...rows].join('\n'));
    const exits = Object.entries(EXIT_MEANINGS).map(([code, meaning]) => `| ${code} | ${cell(meaning)} |`);
    section('errors.md', 'exit-codes', ['| exit code | meaning |', '|---|---|', ...exits].join('\n'));
  });

  it('docs/cli.md carries every command\'s --help, as the command prints it', async () => {
    const parts: string[] = [];
    for (const [name, load] of Object.entries(COMMANDS)) {
      parts.push(`### ${name}`, '', '```text', helpText((await load()).spec).trimEnd(), '```', '');
    }
    section('cli.md', 'commands', parts.join('\n'));
  });

  it('docs/templates.md has one row per built-in template, with the image, port and default target the registry holds', async () => {
    const text = readFileSync(new URL('templates.md', DOCS), 'utf8');
    const table = text.slice(text.indexOf('## Built-in templates'), text.indexOf('\n## ', text.indexOf('## Built-in templates') + 1));
    const rows = [...table.matchAll(/^\| \[([a-z0-9-]+)\]\([^)]*\) \| ([^|]+) \| (\d+)[^|]* \| ([^|]+) \|/gm)].map((m) => ({
      name: m[1] ?? '',
      image: (m[2] ?? '').trim(),
      port: Number(m[3]),
      target: (m[4] ?? '').trim(),
    }));
    const registry = await loadRegistry(undefined);
    assert.deepEqual(rows.map((r) => r.name).sort(), [...registry.templates.keys()].sort(), 'one row per built-in template, no other');
    for (const row of rows) {
      const t = registry.templates.get(row.name);
      assert.ok(t);
      assert.equal(row.image, t.image, `${row.name}: image`);
      assert.equal(row.port, t.port, `${row.name}: port`);
      if (t.target.format === 'none') assert.match(row.target, /^[–-] /, `${row.name}: takes no target`);
      else assert.ok(row.target.startsWith(`\`${t.target.default}\``), `${row.name}: default target ${t.target.default}, the table says ${row.target}`);
    }
  });
});

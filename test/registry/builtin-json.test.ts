// src/registry/builtin-templates.json is what the webhook loads for its built-in templates: it must
// be exactly what validate.ts makes of src/registry/templates/*.yaml, so the YAML files stay the
// one place a template is written. `REFRESH_GENERATED=1 node --import tsx --test
// test/registry/builtin-json.test.ts` rewrites it after a template changed.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { it } from 'node:test';
import { BUILTIN_DIR, BUILTIN_JSON, loadRegistry, type CompiledTemplates } from '../../src/registry/load.js';
import { readTemplateDir } from '../../src/registry/validate.js';

it('builtin-templates.json is the validated templates/*.yaml', async () => {
  const set = await readTemplateDir(BUILTIN_DIR);
  assert.deepEqual(set.problems, [], 'the built-in templates must be valid');
  const compiled: CompiledTemplates = {
    generated: 'from src/registry/templates/*.yaml by test/registry/builtin-json.test.ts; REFRESH_GENERATED=1 rewrites it',
    templates: set.templates,
  };
  const wanted = `${JSON.stringify(compiled, null, 1)}\n`;
  if (process.env.REFRESH_GENERATED) writeFileSync(BUILTIN_JSON, wanted);
  assert.equal(readFileSync(BUILTIN_JSON, 'utf8'), wanted, 'src/registry/builtin-templates.json is out of date with templates/*.yaml; run this test with REFRESH_GENERATED=1');
  const registry = await loadRegistry();
  assert.deepEqual([...registry.templates.keys()], set.templates.map((t) => t.name).sort(), 'the registry holds every built-in');
  for (const t of set.templates) assert.deepEqual(registry.templates.get(t.name), t, `${t.name} loads as validated`);
});

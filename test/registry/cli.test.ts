// `exporter-injector templates ...` through main(), as a user runs it: output and exit codes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { GENERIC_PARAMS } from '../../src/core/annotations.js';
import { renderExporter } from '../../src/core/render.js';
import { EXIT, type CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { loadRegistry } from '../../src/registry/load.js';

const BAD_DIR = fileURLToPath(new URL('../testdata/registry/bad/', import.meta.url));
const USER_DIR = fileURLToPath(new URL('../testdata/registry/user/', import.meta.url));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    readStdin: () => Promise.resolve(''),
    env: {},
  };
  const code = await main(['templates', ...argv], io);
  return { code, out, err };
}

describe('templates validate', () => {
  it('exits 0 and counts the templates of a valid directory', async () => {
    const r = await run('validate', USER_DIR);
    assert.deepEqual(r, { code: EXIT.OK, out: '2 templates valid\n', err: '' });
  });

  it('validates the built-ins without a directory', async () => {
    const n = (await loadRegistry()).templates.size;
    const r = await run('validate');
    assert.equal(r.code, EXIT.OK);
    assert.equal(r.out, `${n} templates valid\n`);
  });

  it('exits 1 and lists every problem of a broken directory', async () => {
    const r = await run('validate', BAD_DIR);
    assert.equal(r.code, EXIT.FAILED);
    assert.equal(r.out, '');
    const lines = r.err.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^error: \d+ problems in templates directory /);
    const listed = lines.slice(1);
    assert.equal(listed.length, Number(/error: (\d+)/.exec(lines[0] ?? '')?.[1]));
    assert.ok(listed.every((l) => l.startsWith(`  - ${BAD_DIR}`)));
    assert.ok(listed.some((l) => l.includes('several-mistakes.yaml:9: scheme: must be one of: http, https')));
  });

  it('accepts the directory as --templates', async () => {
    assert.equal((await run('validate', '--templates', USER_DIR)).code, EXIT.OK);
    assert.equal((await run('validate', '--templates', BAD_DIR)).code, EXIT.FAILED);
  });
});

describe('templates list and show', () => {
  it('lists name, version, image, port and default target', async () => {
    const r = await run('list');
    assert.equal(r.code, EXIT.OK);
    const [header, ...rows] = r.out.trimEnd().split('\n');
    assert.match(header ?? '', /^NAME\s+VERSION\s+IMAGE\s+PORT\s+TARGET$/);
    const redis = rows.find((l) => l.startsWith('redis '));
    assert.match(redis ?? '', /^redis\s+1\.0\.0\s+oliver006\/redis_exporter:v1\.88\.0\s+9121\s+redis:\/\/localhost:6379$/);
  });

  it('lists user templates with --templates', async () => {
    const r = await run('list', '--templates', USER_DIR);
    assert.ok(r.out.split('\n').some((l) => l.startsWith('custom ')));
    assert.match(r.out.split('\n').find((l) => l.startsWith('redis ')) ?? '', /registry\.example\.com\/mirror\/redis_exporter:v1\.88\.0\s+9200/);
  });

  it('shows the resolved template as YAML, equal to what the registry holds', async () => {
    const r = await run('show', 'postgres');
    assert.equal(r.code, EXIT.OK);
    const registry = await loadRegistry();
    const { params: _shown, ...shown } = parse(r.out) as { params: unknown };
    const { params: _held, ...held } = JSON.parse(JSON.stringify(registry.templates.get('postgres'))) as { params: unknown };
    assert.deepEqual(shown, held);
  });

  it('shows every param a template accepts, generic and declared, and only those', async () => {
    const registry = await loadRegistry();
    for (const name of ['redis', 'statsd', 'process', 'mtail']) {
      const template = registry.templates.get(name);
      assert.ok(template);
      const shown = (parse((await run('show', name)).out) as { params: { name: string; kind: string; description: string }[] }).params;
      for (const p of shown) assert.ok(p.kind && p.description, `${name}.${p.name}: kind and description`);
      const shownNames = new Set(shown.map((p) => p.name));
      for (const declared of template.params) assert.ok(shownNames.has(declared.name), `${name}: declared ${declared.name} shown`);
      // What the renderer accepts is exactly what show lists.
      for (const param of [...GENERIC_PARAMS, ...template.params.map((p) => p.name)]) {
        const result = renderExporter(template, new Map([[param, 'x']]), 'native');
        const refused = result.problems.some((p) => p.code === 'EI_ERR_PARAM_UNKNOWN');
        assert.equal(refused, !shownNames.has(param), `${name}.${param}: shown exactly when accepted`);
      }
    }
  });

  it('shows JSON with -o json', async () => {
    const r = await run('show', 'redis', '-o', 'json');
    assert.equal((JSON.parse(r.out) as { portName: string }).portName, 'redis-metrics');
  });

  it('fails with the valid names for an unknown template', async () => {
    const r = await run('show', 'rediss');
    assert.equal(r.code, EXIT.FAILED);
    assert.match(r.err, /no template named "rediss" \(did you mean redis\?\); valid names: apache, .*redis/);
  });

  it('fails as invalid input when the --templates directory is invalid', async () => {
    const r = await run('list', '--templates', BAD_DIR);
    assert.equal(r.code, EXIT.INPUT);
    assert.match(r.err, /problems in templates directory/);
  });
});

describe('templates usage errors', () => {
  for (const [argv, says] of [
    [[], /missing subcommand; valid subcommands: list, show, validate/],
    [['frobnicate'], /unknown subcommand "frobnicate"/],
    [['list', '--bogus'], /--bogus/],
    [['show'], /missing template NAME/],
    [['list', '-o', 'xml'], /--output "xml" is not valid; valid values: table, json/],
    [['validate', 'a', '--templates', 'b'], /two directories given/],
  ] as const) {
    it(`exits 2 for: templates ${argv.join(' ')}`, async () => {
      const r = await run(...argv);
      assert.equal(r.code, EXIT.USAGE);
      assert.match(r.err, says);
    });
  }

  it('prints help', async () => {
    const r = await run('--help');
    assert.equal(r.code, EXIT.OK);
    assert.match(r.out, /validate \[DIR\]/);
  });
});

// The rendering cache is shared by every request of a running webhook: two different sets of
// parameter values must never share an entry, whatever characters the values hold (found by the
// 100,000-review stress run: values with a NUL and "=" made one pod get another pod's exporter).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderExporter, renderExporterCached } from '../../src/core/render.js';
import { loadRegistry } from '../../src/registry/load.js';

describe('renderExporterCached', () => {
  it('keys on the exact parameter values: no two value sets collide', async () => {
    const registry = await loadRegistry();
    const template = registry.templates.get('redis');
    assert.ok(template);
    const sets: Map<string, string>[] = [
      new Map([['args', '--debug\0target=redis://evil:6379']]),
      new Map([['args', '--debug'], ['target', 'redis://evil:6379']]),
      new Map([['args', '--debug=']]),
      new Map([['args', '--debug'], ['', '']]),
    ];
    for (const params of sets) {
      assert.deepEqual(renderExporterCached(template, params, 'native'), renderExporter(template, params, 'native'), JSON.stringify([...params]));
    }
  });

  it('answers the same, problems in the same order, whatever order the pod lists its annotations in', async () => {
    const registry = await loadRegistry();
    const template = registry.templates.get('mtail');
    assert.ok(template);
    // Two fresh copies of the template: two empty caches, each filled by one order first.
    const one = renderExporterCached({ ...template }, new Map([['target', 'x'], ['secret', 's']]), 'native');
    const other = renderExporterCached({ ...template }, new Map([['secret', 's'], ['target', 'x']]), 'native');
    assert.equal(one.problems.length, 4);
    assert.deepEqual(one.problems.map((p) => p.message), other.problems.map((p) => p.message));
  });
});

// Golden pairs test/testdata/inject/<case>.yaml -> <case>.yaml.injected (+ .error for denials,
// .warnings for admission warnings), run through the core and through the CLI; both must match.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { admit } from '../src/core/admit.js';
import { podShapeProblems, syntheticReview } from '../src/core/review.js';
import { loadCoreContext } from '../src/cli/core-context.js';
import { injectDocuments, readManifests } from '../src/cli/commands/inject.js';
import { podSites } from '../src/cli/workloads.js';
import { main } from '../src/cli/main.js';
import { assertGolden, discoverCases } from './helpers/golden.js';
import { fakeIo } from './helpers/fake-io.js';
import { checkRestricted } from './helpers/pss.js';
import { schemaProblems } from './helpers/k8s-schema.js';

// Relative to the checkout, so messages (which name the file) read the same in every clone.
const DIR = relative(process.cwd(), new URL('./testdata/inject/', import.meta.url).pathname);
const { cases, stale } = discoverCases(DIR, ['.injected', '.error', '.warnings']);

interface CaseSettings {
  sidecarMode?: 'native' | 'classic';
  templates?: string;
  namespace?: string;
}

function settingsOf(name: string): CaseSettings {
  const file = join(DIR, `${name}.settings.yaml`);
  return existsSync(file) ? (parse(readFileSync(file, 'utf8')) as CaseSettings) : {};
}

function cliFlags(s: CaseSettings): string[] {
  return [
    ...(s.sidecarMode ? ['--sidecar-mode', s.sidecarMode] : []),
    ...(s.templates ? ['--templates', join(DIR, '..', s.templates)] : []),
    ...(s.namespace ? ['-n', s.namespace] : []),
  ];
}

describe('golden injection cases', () => {
  it('has at least 30 cases and no stale golden files', () => {
    assert.ok(cases.length >= 30, `only ${cases.length} cases`);
    assert.deepEqual(stale, [], 'golden files without a case');
  });

  for (const name of cases) {
    it(name, async () => {
      const s = settingsOf(name);
      const context = await loadCoreContext({ ...(s.templates ? { templates: join(DIR, '..', s.templates) } : {}), ...(s.sidecarMode ? { 'sidecar-mode': s.sidecarMode } : {}) });
      const file = join(DIR, `${name}.yaml`);

      // Through the core: each pod site admitted, the patch applied, the result compared.
      const read = await readManifests([file], fakeIo().io);
      const sources = read.sources;
      const injectedDocs = injectDocuments(sources, context, s.namespace ?? 'default');
      const results = injectedDocs.results;
      const inputErrors = [...read.inputErrors, ...injectedDocs.inputErrors];
      const injected = sources.flatMap((src) => src.documents.map((d) => stringify(d.value, { lineWidth: 0 }))).join('---\n');
      assertGolden(`${file}.injected`, injected);
      const errors = results.flatMap((r) => (r.outcome.decision === 'denied' ? r.outcome.problems.map((p) => `${r.where}: ${p.code}: ${p.message}`) : []));
      const errorLines = [...inputErrors.map((e) => `input: ${e}`), ...errors];
      assertGolden(`${file}.error`, errorLines.length ? errorLines.join('\n') + '\n' : undefined);
      const warnings = results.flatMap((r) => r.outcome.warnings.map((w) => `${r.where}: ${w}`));
      assertGolden(`${file}.warnings`, warnings.length ? warnings.join('\n') + '\n' : undefined);

      // Every resulting pod is a valid Pod (schema and strict fields), its injected containers pass PSS restricted, and a
      // second admission (the API server's reinvocation) changes nothing.
      const sites = sources
        .flatMap((src) => src.documents.flatMap((doc) => podSites(doc.value, s.namespace ?? 'default')))
        .filter((site) => podShapeProblems(site.pod as Record<string, unknown>).length === 0);
      const siteResults = results.filter((r) => r.workload !== '');
      assert.equal(sites.length, siteResults.length);
      sites.forEach((site, i) => {
        {
          assert.deepEqual(schemaProblems(site.pod as never), [], `${site.label}: a valid Pod (OpenAPI schema, no unknown field)`);
          const again = admit(syntheticReview(site.pod, site.namespace), context.registry, context.settings);
          assert.deepEqual(again.patch, [], `${site.label}: a second admission must not patch`);
          if (siteResults[i]?.outcome.decision !== 'injected') return;
          const injectedNames = new Set(
            (JSON.parse(site.pod.metadata?.annotations?.['exporter-injector.io/status'] ?? '{"templates":[]}') as { templates: { container: string }[] }).templates.map((t) => t.container),
          );
          const exporters = [...(site.pod.spec?.initContainers ?? []), ...(site.pod.spec?.containers ?? [])].filter((c) => injectedNames.has(c.name));
          assert.equal(exporters.length, injectedNames.size, `${site.label}: every container in the status annotation is in the pod`);
          for (const c of exporters) {
            assert.deepEqual(checkRestricted({ containers: [c] }), [], `${site.label}: ${c.name} must pass PSS restricted`);
            assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory, `${c.name}: requests and a memory limit`);
          }
        }
      });

      // Through the CLI: the same manifests, the same output, exit code 1 exactly when a pod is denied.
      const cli = fakeIo();
      const code = await main(['inject', '-f', file, ...cliFlags(s)], cli.io);
      assert.equal(cli.stdout(), injected, 'the CLI prints what the core produced');
      assert.equal(code, inputErrors.length ? 3 : errors.length ? 1 : 0, `exit code; stderr: ${cli.stderr()}`);
      for (const e of inputErrors) assert.ok(cli.stderr().includes(`error: ${e}`), `stderr names the input error: ${e}`);
      for (const r of results) {
        if (r.outcome.decision !== 'denied') continue;
        for (const p of r.outcome.problems) assert.ok(cli.stderr().includes(`error: ${r.where}: ${p.message}`), `stderr names: ${p.message}`);
      }
    });
  }
});

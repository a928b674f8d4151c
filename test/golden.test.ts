// Golden pairs test/testdata/inject/<case>.yaml -> <case>.yaml.injected (+ .error for denials,
// .warnings for admission warnings), run through the core and through the CLI; both must match.
// Every YAML and JSON output is then decoded by kubectl itself, as a user's pipe would, and must
// be exactly the objects we meant. (test/golden-server.test.ts runs the same cases through the webhook.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { admit } from '../src/core/admit.js';
import { podShapeProblems, syntheticReview } from '../src/core/review.js';
import { injectDocuments, readManifests } from '../src/cli/commands/inject.js';
import { podSites } from '../src/cli/workloads.js';
import { main } from '../src/cli/main.js';
import { toYaml } from '../src/cli/yaml-output.js';
import { assertGolden, caseContext, caseFlags, caseSettings, discoverCases, INJECT_DIR, INJECT_SUFFIXES } from './helpers/golden.js';
import { fakeIo } from './helpers/fake-io.js';
import { checkRestricted } from './helpers/pss.js';
import { schemaProblems } from './helpers/k8s-schema.js';
import { kubectlDecode } from './helpers/kubectl-discovery.js';

const { cases, stale } = discoverCases(INJECT_DIR, INJECT_SUFFIXES);
const DIR = INJECT_DIR;

type Json = Record<string, unknown>;

/** One output of one case, for kubectl to decode: the exact text we print, and the objects we meant. */
interface PrintedOutput {
  readonly label: string;
  readonly text: string;
  readonly meant: Json[];
}
const printedYaml: PrintedOutput[] = [];
const printedJson: PrintedOutput[] = [];

/** The objects kubectl creates from documents: a List stands for its items, an empty document for nothing. */
function objectsOf(documents: unknown[]): Json[] {
  return documents.flatMap((d): Json[] => {
    if (typeof d !== 'object' || d === null) return [];
    const o = d as Json;
    return o.kind === 'List' && Array.isArray(o.items) ? objectsOf(o.items) : [structuredClone(o)];
  });
}

/**
 * kubectl decodes a stream of all outputs in one call (a few hundred objects: one process, not one
 * per case), then each decoded object must equal what we meant. The only difference allowed is the
 * namespace kubectl fills in from its context ("default") where an object names none.
 */
async function assertKubectlReadsAsMeant(outputs: readonly PrintedOutput[], separator: string): Promise<void> {
  const decoded = await kubectlDecode(outputs.map((o) => o.text).join(separator)).catch(async (batchError: Error) => {
    // Name the output kubectl refuses: decode them one by one (only on failure: one process each).
    for (const o of outputs) await kubectlDecode(o.text).catch((e: Error) => assert.fail(`${o.label}: ${e.message}`));
    throw batchError;
  });
  const expected = outputs.flatMap((o) => o.meant.map((object, i) => ({ label: `${o.label} (object ${i + 1})`, object })));
  assert.equal(decoded.length, expected.length, 'kubectl decoded as many objects as we printed');
  decoded.forEach((got, i) => {
    const { label, object } = expected[i]!;
    const gotMeta = (got.metadata ?? {}) as Json;
    const meantMeta = (object.metadata ?? {}) as Json;
    if (meantMeta.namespace === undefined && gotMeta.namespace !== undefined) {
      assert.equal(gotMeta.namespace, 'default', `${label}: kubectl fills in only its context's namespace`);
      delete gotMeta.namespace;
    }
    assert.deepEqual(got, object, `${label}: kubectl reads what we meant`);
  });
}

describe('golden injection cases', () => {
  it('has at least 30 cases and no stale golden files', () => {
    assert.ok(cases.length >= 30, `only ${cases.length} cases`);
    assert.deepEqual(stale, [], 'golden files without a case');
  });

  for (const name of cases) {
    it(name, async () => {
      const s = caseSettings(name);
      const context = await caseContext(s);
      const file = join(DIR, `${name}.yaml`);

      // Through the core: each pod site admitted, the patch applied, the result compared.
      const read = await readManifests([file], fakeIo().io);
      const sources = read.sources;
      const injectedDocs = injectDocuments(sources, context, s.namespace ?? 'default');
      const results = injectedDocs.results;
      const inputErrors = [...read.inputErrors, ...injectedDocs.inputErrors];
      const injected = sources.flatMap((src) => src.documents.map((d) => toYaml(d.value))).join('---\n');
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
      const code = await main(['inject', '-f', file, ...caseFlags(s)], cli.io);
      assert.equal(cli.stdout(), injected, 'the CLI prints what the core produced');
      assert.equal(code, inputErrors.length ? 3 : errors.length ? 1 : 0, `exit code; stderr: ${cli.stderr()}`);
      for (const e of inputErrors) assert.ok(cli.stderr().includes(`error: ${e}`), `stderr names the input error: ${e}`);
      for (const r of results) {
        if (r.outcome.decision !== 'denied') continue;
        for (const p of r.outcome.problems) assert.ok(cli.stderr().includes(`error: ${r.where}: ${p.message}`), `stderr names: ${p.message}`);
      }

      // -o json carries the same objects; both outputs go to kubectl below.
      const documents = sources.flatMap((src) => src.documents.map((d) => d.value));
      const json = fakeIo();
      await main(['inject', '-f', file, '-o', 'json', ...caseFlags(s)], json.io);
      assert.deepEqual(objectsOf([JSON.parse(json.stdout())]), objectsOf(documents), '-o json prints the same objects');
      if (inputErrors.length > 0) {
        // Documents with input errors pass through as they were, so kubectl refuses our output as it
        // refuses the input: the output holds nothing kubectl could be asked to read as meant.
        await assert.rejects(kubectlDecode(readFileSync(file, 'utf8')), `kubectl refuses ${name}.yaml too`);
      } else {
        printedYaml.push({ label: `${name}.yaml.injected`, text: readFileSync(`${file}.injected`, 'utf8'), meant: objectsOf(documents) });
        printedJson.push({ label: `inject -f ${name}.yaml -o json`, text: json.stdout(), meant: objectsOf(documents) });
      }
    });
  }

  it('kubectl reads every golden output (YAML and JSON) as exactly the objects we meant', async () => {
    if (printedYaml.length === 0) return; // only some cases selected (--test-name-pattern)
    await assertKubectlReadsAsMeant(printedYaml, '---\n');
    await assertKubectlReadsAsMeant(printedJson, '\n');
  });
});

// `exporter-injector inject`: the offline dry run. Runs every pod template found in the manifests
// through the same admit() as the webhook and prints the result. A document that cannot be read is
// reported with its file, document and key, and the others still go through.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { admit } from '../../core/admit.js';
import { ANNOTATION } from '../../core/annotations.js';
import { podShapeProblems, syntheticReview } from '../../core/review.js';
import { statusDrift } from '../../core/status.js';
import type { Outcome, Pod } from '../../core/types.js';
import { EXIT, InjectorError } from '../../errors.js';
import { CORE_FLAGS, loadCoreContext, type CoreContext } from '../core-context.js';
import { defineCommand } from '../command.js';
import { describeFsError, inputName, readInput, STDIN, type CliIo } from '../io.js';
import { misplacedOptIn, podSites } from '../workloads.js';
import { toYaml } from '../yaml-output.js'; // YAML that kubectl (YAML 1.1) reads as we mean it

const OUTPUTS = ['yaml', 'json', 'patch', 'diff'] as const;

/** Aliases are expanded at most this many times per document: a bomb fails fast, not after gigabytes. */
const MAX_ALIAS_COUNT = 100;

export const inject = defineCommand(
  {
    name: 'inject',
    summary: 'dry-run: print what the webhook would do to manifests',
    usage: '-f FILE|DIR|- [flags]',
    description: [
      'Prints what the webhook would do to the pods of these manifests, offline (no cluster needed).',
      'Reads Pod, List and every workload with a pod template at spec.template (Deployment, StatefulSet,',
      'DaemonSet, ReplicaSet, ReplicationController, Job, Argo Rollout, OpenShift DeploymentConfig, ...) or',
      "at spec.jobTemplate.spec.template (CronJob), from YAML (several documents per file) or JSON; other",
      'kinds pass through unchanged. A document that cannot be read is reported and the others still go through.',
      '',
      'Outputs: yaml and json print the manifests with the injection applied; patch prints the JSON patch per',
      'workload (paths relative to the pod, as the webhook sends them); diff prints a unified diff of each',
      'changed document, original against injected, both as this command prints YAML (like kubectl diff, it',
      'compares two serializations: comments and formatting of the source are not kept).',
    ].join('\n'),
    flags: {
      filename: { type: 'string', short: 'f', multiple: true, value: 'FILE|DIR|-', help: 'manifests to read; a directory is read recursively (*.yaml, *.yml, *.json); - reads standard input' },
      output: { type: 'string', short: 'o', value: 'FORMAT', choices: OUTPUTS, default: 'yaml', help: 'what to print' },
      explain: { type: 'boolean', help: 'print, per workload, whether it would be injected and why, instead of manifests (-o json: as JSON)' },
      namespace: { type: 'string', short: 'n', value: 'NS', default: 'default', help: 'namespace for objects that name none' },
      ...CORE_FLAGS,
    },
    examples: [
      'exporter-injector inject -f deploy/examples/redis-deployment.yaml',
      'exporter-injector inject -f manifests/ --explain',
      'kubectl create deployment web --image=nginx --dry-run=client -o yaml | exporter-injector inject -f - -o diff',
    ],
    exits: { 1: 'at least one pod would be denied', 3: 'at least one input (file or document) could not be read; the others were still processed' },
  },
  async ({ values }, io) => {
    if (values.filename.length === 0) throw new InjectorError('EI_ERR_USAGE', 'inject: -f FILE|DIR|- is required (see "exporter-injector inject --help")');
    const context = await loadCoreContext(values);
    const read = await readManifests(values.filename, io);
    const originals = read.sources.map((s) => s.documents.map((d) => toYaml(d.value)));
    const { results, inputErrors } = injectDocuments(read.sources, context, values.namespace);
    const unreadable = [...read.inputErrors, ...inputErrors];

    for (const e of unreadable) io.stderr(`error: ${e}\n`);
    if (values.explain) {
      io.stdout(values.output === 'json' ? `${JSON.stringify(results.map(explainRecord), null, 2)}\n` : results.map(explainText).join(''));
    } else {
      for (const r of results) {
        if (r.outcome.decision === 'denied') for (const p of r.outcome.problems) io.stderr(`error: ${r.where}: ${p.message}\n`);
        else for (const w of r.outcome.warnings) io.stderr(`Warning: ${r.where}: ${w}\n`);
      }
      io.stdout(render(values.output, read.sources, originals, results));
    }
    if (unreadable.length > 0) return EXIT.INPUT;
    return results.some((r) => r.outcome.decision === 'denied') ? EXIT.FAILED : EXIT.OK;
  },
);

export interface Document {
  /** 1-based, as people count documents in a file. */
  readonly index: number;
  readonly value: unknown;
}

export interface Source {
  /** The path as given, or <stdin>. */
  readonly name: string;
  readonly documents: Document[];
}

async function expand(path: string, inputErrors: string[]): Promise<string[]> {
  if (path === STDIN) return [STDIN];
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    inputErrors.push(`${path}: ${describeFsError(e)}; valid: a file, a directory or - for standard input`);
    return [];
  }
  if (!info.isDirectory()) return [path];
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const child = join(path, entry.name);
    if (entry.isDirectory()) files.push(...(await expand(child, inputErrors)));
    else if (/\.(ya?ml|json)$/.test(entry.name)) files.push(child);
  }
  return files;
}

/** Reads every file; what cannot be read or parsed becomes one input error each, and reading goes on. */
export async function readManifests(paths: readonly string[], io: CliIo): Promise<{ sources: Source[]; inputErrors: string[] }> {
  const inputErrors: string[] = [];
  const sources: Source[] = [];
  const files: string[] = [];
  for (const path of paths) files.push(...(await expand(path, inputErrors)));
  for (const file of files) {
    let text: string;
    try {
      text = await readInput(file, io);
    } catch (e) {
      inputErrors.push(e instanceof Error ? e.message : String(e));
      continue;
    }
    const name = inputName(file);
    const documents: Document[] = [];
    parseAllDocuments(text, { uniqueKeys: true }).forEach((doc, i) => {
      const where = `${name} (document ${i + 1})`;
      const error = doc.errors[0];
      if (error) {
        const line = error.linePos?.[0];
        inputErrors.push(`${name}${line ? `:${line.line}:${line.col}` : ''} (document ${i + 1}): ${error.message.split('\n')[0]}`);
        return;
      }
      let value: unknown;
      try {
        value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
      } catch (e) {
        // Alias bombs and aliases to anchors in another document end here.
        const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
        inputErrors.push(`${where}: ${message}; YAML aliases must refer to an anchor earlier in the same document, and expand at most ${MAX_ALIAS_COUNT} times`);
        return;
      }
      if (value !== null && value !== undefined) documents.push({ index: i + 1, value });
    });
    sources.push({ name, documents });
  }
  return { sources, inputErrors };
}

export interface Result {
  readonly where: string;
  readonly file: string;
  readonly document: number;
  readonly workload: string;
  readonly outcome: Outcome;
  readonly patch: readonly Operation[];
  /** For an already injected pod: templates that changed in the registry since. */
  readonly drift: readonly string[];
}

/** Runs each pod site through admit() and writes the mutated pod back into its document. */
export function injectDocuments(sources: readonly Source[], context: CoreContext, defaultNamespace: string): { results: Result[]; inputErrors: string[] } {
  const results: Result[] = [];
  const inputErrors: string[] = [];
  for (const source of sources) {
    for (const doc of source.documents) {
      const sites = podSites(doc.value, defaultNamespace);
      const misplaced = misplacedOptIn(doc.value, ANNOTATION.inject);
      for (const site of sites) {
        const where = `${source.name} (document ${doc.index}, ${site.label})`;
        const shape = podShapeProblems(site.pod as Record<string, unknown>);
        if (shape.length > 0) {
          const path = site.kind === 'Pod' ? '' : site.kind === 'CronJob' ? 'spec.jobTemplate.spec.template.' : 'spec.template.';
          for (const p of shape) inputErrors.push(`${where}: ${path}${p}`);
          continue;
        }
        const { outcome: admitted, patch } = admit(syntheticReview(site.pod, site.namespace), context.registry, context.settings);
        const outcome = misplaced ? { ...admitted, warnings: [...admitted.warnings, misplaced] } : admitted;
        if (patch.length > 0) {
          const mutated = jsonPatch.applyPatch(structuredClone(site.pod), jsonPatch.deepClone(patch) as Operation[], true, false).newDocument as Pod;
          site.write(mutated);
        }
        const drift = outcome.reason === 'already-injected' ? statusDrift(site.pod.metadata?.annotations, context.registry) : [];
        results.push({ where, file: source.name, document: doc.index, workload: site.label, outcome, patch, drift });
      }
      if (sites.length === 0 && misplaced) {
        const where = `${source.name} (document ${doc.index})`;
        const outcome: Outcome = { decision: 'skipped', reason: 'not-a-pod', templates: [], warnings: [misplaced], problems: [], patchOperations: 0 };
        results.push({ where, file: source.name, document: doc.index, workload: '', outcome, patch: [], drift: [] });
      }
    }
  }
  return { results, inputErrors };
}

function explainText(r: Result): string {
  const o = r.outcome;
  const head =
    o.decision === 'injected'
      ? `injected: ${o.templates.join(', ')} (${o.patchOperations} patch operations)`
      : o.decision === 'denied'
        ? 'denied'
        : `not injected: ${o.reason}`;
  const lines = [`${r.where}: ${head}`];
  for (const p of o.problems) lines.push(`  ${o.decision === 'denied' ? 'error' : 'warning'} ${p.code}: ${p.message}`);
  // Under policy optional each problem is also a warning; say it once.
  for (const w of o.warnings) if (!o.problems.some((p) => w.endsWith(p.message))) lines.push(`  warning: ${w}`);
  for (const d of r.drift) lines.push(`  drift: ${d}`);
  return `${lines.join('\n')}\n`;
}

function explainRecord(r: Result): Record<string, unknown> {
  const o = r.outcome;
  return {
    file: r.file,
    document: r.document,
    workload: r.workload,
    decision: o.decision,
    reason: o.reason,
    templates: o.templates,
    problems: o.problems,
    warnings: o.warnings,
    drift: r.drift,
    patchOperations: o.patchOperations,
  };
}

function render(output: (typeof OUTPUTS)[number], sources: readonly Source[], originals: readonly string[][], results: readonly Result[]): string {
  switch (output) {
    case 'yaml':
      return sources.flatMap((s) => s.documents.map((d) => toYaml(d.value))).join('---\n');
    case 'json': {
      const all = sources.flatMap((s) => s.documents.map((d) => d.value));
      return `${JSON.stringify(all.length === 1 ? all[0] : { apiVersion: 'v1', kind: 'List', items: all }, null, 2)}\n`;
    }
    case 'patch':
      return `${JSON.stringify(results.map((r) => ({ workload: r.where, decision: r.outcome.decision, patch: r.patch })), null, 2)}\n`;
    case 'diff':
      return sources
        .flatMap((s, i) =>
          s.documents.map((d, j) => {
            const before = originals[i]?.[j] ?? '';
            const after = toYaml(d.value);
            const name = `${s.name} (document ${d.index})`;
            return before === after ? '' : createTwoFilesPatch(`${name}`, `${name} injected`, before, after, 'original', 'injected', { context: 3 });
          }),
        )
        .join('');
  }
}

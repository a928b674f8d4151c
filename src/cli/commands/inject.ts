// `exporter-injector inject`: the offline dry run. Runs every pod template found in the manifests
// through the same admit() as the webhook and prints the result.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTwoFilesPatch } from 'diff';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { admit } from '../../core/admit.js';
import { syntheticReview } from '../../core/review.js';
import { statusDrift } from '../../core/status.js';
import type { Outcome, Pod } from '../../core/types.js';
import { InjectorError } from '../../errors.js';
import { CORE_FLAGS, loadCoreContext, type CoreContext } from '../core-context.js';
import { EXIT, readInput, type CliIo, type Command } from '../io.js';
import { podSites } from '../workloads.js';

const HELP = `usage: exporter-injector inject -f FILE|DIR|- [flags]

Prints what the webhook would do to the pods of these manifests, offline (no cluster needed).
Reads Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob and List
objects from YAML (several documents per file) or JSON; other kinds pass through unchanged.

flags:
  -f, --filename FILE|DIR|-  manifests to read; a directory is read recursively (*.yaml, *.yml, *.json); repeatable
  -o, --output FORMAT        yaml (default), json, patch (the JSON patch per workload) or diff
      --explain              print, per workload, whether it would be injected and why (instead of manifests)
  -n, --namespace NS         namespace for objects that name none (default: default)
      --templates DIR        add or override templates from this directory
      --sidecar-mode MODE    the cluster's default: native (Kubernetes >= 1.29, default) or classic

exit codes: 0 done; 1 at least one pod would be denied; 2 usage error; 3 an input could not be read or parsed
`;

const OUTPUTS = ['yaml', 'json', 'patch', 'diff'] as const;
type Output = (typeof OUTPUTS)[number];

interface Source {
  readonly name: string;
  readonly documents: unknown[];
}

async function expand(path: string): Promise<string[]> {
  if (path === '-') return ['-'];
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw new InjectorError('EI_ERR_INPUT_INVALID', `${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)}); valid: a file, a directory or - for standard input`);
  }
  if (!info.isDirectory()) return [path];
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const child = join(path, entry.name);
    if (entry.isDirectory()) files.push(...(await expand(child)));
    else if (/\.(ya?ml|json)$/.test(entry.name)) files.push(child);
  }
  return files;
}

export async function readManifests(paths: readonly string[], io: CliIo): Promise<Source[]> {
  const sources: Source[] = [];
  for (const file of (await Promise.all(paths.map(expand))).flat()) {
    let text: string;
    try {
      text = await readInput(file, io);
    } catch (e) {
      throw new InjectorError('EI_ERR_INPUT_INVALID', `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    const name = file === '-' ? '<stdin>' : file;
    const documents: unknown[] = [];
    parseAllDocuments(text, { uniqueKeys: true }).forEach((doc, index) => {
      const error = 'errors' in doc ? doc.errors[0] : undefined;
      if (error) {
        const line = error.linePos?.[0];
        throw new InjectorError('EI_ERR_INPUT_INVALID', `${name}${line ? `:${line.line}:${line.col}` : ''} (document ${index + 1}): ${error.message.split('\n')[0]}`);
      }
      const value = doc.toJS({ maxAliasCount: 100 });
      if (value !== null && value !== undefined) documents.push(value);
    });
    sources.push({ name, documents });
  }
  return sources;
}

interface Result {
  readonly where: string;
  readonly outcome: Outcome;
  readonly patch: readonly Operation[];
  /** For an already injected pod: templates that changed in the registry since. */
  readonly drift: readonly string[];
}

function explain(r: Result): string {
  const o = r.outcome;
  const head =
    o.decision === 'injected'
      ? `injected: ${o.templates.join(', ')} (${o.patchOperations} patch operations)`
      : o.decision === 'denied'
        ? 'denied'
        : `not injected: ${o.reason}`;
  const lines = [`${r.where}: ${head}`];
  for (const p of o.problems) lines.push(`  ${o.decision === 'denied' ? 'error' : 'warning'} ${p.code}: ${p.message}`);
  for (const w of o.warnings) if (!o.problems.some((p) => w.endsWith(p.message))) lines.push(`  warning: ${w}`);
  for (const d of r.drift) lines.push(`  drift: ${d}`);
  return lines.join('\n');
}

export function injectDocuments(sources: readonly Source[], context: CoreContext, defaultNamespace: string): Result[] {
  const results: Result[] = [];
  for (const source of sources) {
    source.documents.forEach((doc, index) => {
      for (const site of podSites(doc, defaultNamespace)) {
        const { outcome, patch } = admit(syntheticReview(site.pod, site.namespace), context.registry, context.settings);
        if (patch.length > 0) {
          const mutated = jsonPatch.applyPatch(structuredClone(site.pod), jsonPatch.deepClone(patch) as Operation[], true, false).newDocument as Pod;
          site.write(mutated);
        }
        const drift = outcome.reason === 'already-injected' ? statusDrift(site.pod.metadata?.annotations, context.registry) : [];
        results.push({ where: `${source.name} (document ${index + 1}, ${site.label})`, outcome, patch, drift });
      }
    });
  }
  return results;
}

import { toYaml } from '../yaml-output.js'; // YAML that kubectl (YAML 1.1) reads as we mean it

export const inject: Command = async (argv, io) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      output: { type: 'string', short: 'o', default: 'yaml' },
      explain: { type: 'boolean', default: false },
      namespace: { type: 'string', short: 'n', default: 'default' },
      help: { type: 'boolean', short: 'h', default: false },
      ...CORE_FLAGS,
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout(HELP);
    return EXIT.OK;
  }
  if (!values.filename?.length) throw new InjectorError('EI_ERR_USAGE', 'inject needs -f FILE|DIR|- (see exporter-injector inject --help)');
  const output = values.output as Output;
  if (!OUTPUTS.includes(output)) throw new InjectorError('EI_ERR_USAGE', `-o ${JSON.stringify(values.output)} is not a known output; valid: ${OUTPUTS.join(', ')}`);

  const context = await loadCoreContext(values);
  const sources = await readManifests(values.filename, io);
  const originals = sources.map((s) => s.documents.map(toYaml));
  const results = injectDocuments(sources, context, values.namespace);

  for (const r of results) {
    if (r.outcome.decision === 'denied') for (const p of r.outcome.problems) io.stderr(`error: ${r.where}: ${p.message}\n`);
    else if (!values.explain) for (const w of r.outcome.warnings) io.stderr(`Warning: ${r.where}: ${w}\n`);
  }

  if (values.explain) {
    io.stdout(results.map(explain).join('\n') + (results.length ? '\n' : ''));
  } else if (output === 'yaml') {
    io.stdout(sources.flatMap((s) => s.documents.map(toYaml)).join('---\n'));
  } else if (output === 'json') {
    const all = sources.flatMap((s) => s.documents);
    io.stdout(JSON.stringify(all.length === 1 ? all[0] : { apiVersion: 'v1', kind: 'List', items: all }, null, 2) + '\n');
  } else if (output === 'patch') {
    // Paths are relative to the pod (for a workload: to its pod template), as the webhook sends them.
    io.stdout(JSON.stringify(results.map((r) => ({ workload: r.where, decision: r.outcome.decision, patch: r.patch })), null, 2) + '\n');
  } else {
    sources.forEach((s, i) =>
      s.documents.forEach((doc, j) => {
        const before = originals[i]?.[j] ?? '';
        const after = toYaml(doc);
        if (before !== after) io.stdout(createTwoFilesPatch(`${s.name} (document ${j + 1})`, `${s.name} (document ${j + 1}, injected)`, before, after, '', '', { context: 3 }));
      }),
    );
  }
  return results.some((r) => r.outcome.decision === 'denied') ? EXIT.FAILED : EXIT.OK;
};

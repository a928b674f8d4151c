// Reads and validates template files (YAML or JSON): every problem of a file, or of a directory as
// a set, is reported together, each with file, line and key; a valid template is filled in with its
// defaults and hash, and frozen. load.ts builds the registry; it imports this module (and with it
// the YAML parser and the schema) only for a templates directory, not for the built-ins.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { deepFreeze } from '../core/freeze.js';
import type { ExporterTemplate } from '../core/types.js';
import { checkSemantics, checkShape, formatPath, type DocPath, type SchemaProblem } from './schema.js';

const TEMPLATE_FILE = /\.(ya?ml|json)$/;

export interface ParseResult {
  /** Present only when the file has no problems. */
  readonly template?: ExporterTemplate;
  /** One line each: `origin:line: path: problem`. */
  readonly problems: readonly string[];
}

export interface TemplateSet {
  readonly templates: readonly ExporterTemplate[];
  readonly problems: readonly string[];
}

/** Parses and validates one template file (YAML or JSON text); never throws. */
export function parseTemplate(text: string, origin: string): ParseResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  if (!Array.isArray(docs) || docs.length === 0) return { problems: [`${origin}: the file is empty; expected one template`] };
  const syntax: string[] = [];
  for (const d of docs) {
    for (const err of d.errors) {
      const pos = lineCounter.linePos(err.pos[0]);
      syntax.push(`${origin}:${pos.line}: ${err.message.split('\n')[0] ?? err.code}`);
    }
  }
  if (syntax.length > 0) return { problems: syntax };
  if (docs.length !== 1) return { problems: [`${origin}: has ${docs.length} YAML documents; put one template in each file`] };
  const doc = docs[0] as Document.Parsed;
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (e) {
    // toJS refuses, for example, an alias expanded more times than maxAliasCount allows.
    return { problems: [`${origin}: ${(e as Error).message}`] };
  }
  const found: SchemaProblem[] = [...checkShape(value), ...checkSemantics(value)];
  if (found.length > 0) {
    const located = dedupe(found).map((p) => ({ line: lineOf(doc, lineCounter, p.path), problem: p }));
    // Stable sort: problems read top-down through the file, shape and meaning interleaved.
    located.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    return { problems: located.map(({ line, problem }) => describe(origin, line, problem)) };
  }
  return { template: finish(value as TemplateFile), problems: [] };
}

/** Validates template texts as one set: each file, plus names defined twice. */
export function validateTemplates(sources: readonly { readonly origin: string; readonly text: string }[]): TemplateSet {
  const templates: ExporterTemplate[] = [];
  const problems: string[] = [];
  const firstOrigin = new Map<string, string>();
  for (const { origin, text } of sources) {
    const r = parseTemplate(text, origin);
    problems.push(...r.problems);
    if (!r.template) continue;
    const first = firstOrigin.get(r.template.name);
    if (first !== undefined) {
      problems.push(`${origin}: name: template "${r.template.name}" is also defined in ${first}; each name may appear once in a directory`);
      continue;
    }
    firstOrigin.set(r.template.name, origin);
    templates.push(r.template);
  }
  return { templates, problems };
}

/**
 * Reads every `*.yaml`, `*.yml` and `*.json` file of a directory (not recursively). Dot entries
 * are skipped: a mounted ConfigMap keeps its real files in `..data`/`..<timestamp>` directories
 * and exposes each key as a symlink, which `stat` follows.
 */
export async function readTemplateDir(dir: string): Promise<TemplateSet> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.') && TEMPLATE_FILE.test(n)).sort();
  } catch (e) {
    return { templates: [], problems: [`${dir}: cannot read the templates directory: ${(e as Error).message}`] };
  }
  const sources: { origin: string; text: string }[] = [];
  const problems: string[] = [];
  for (const n of names) {
    const file = join(dir, n);
    try {
      if (!(await stat(file)).isFile()) continue;
      sources.push({ origin: file, text: await readFile(file, 'utf8') });
    } catch (e) {
      problems.push(`${file}: cannot read: ${(e as Error).message}`);
    }
  }
  const set = validateTemplates(sources);
  return { templates: set.templates, problems: [...problems, ...set.problems] };
}

// ---------------------------------------------------------------------------------------------

type TemplateFile = Omit<ExporterTemplate, 'hash' | 'containerName' | 'portName' | 'scheme' | 'env' | 'credentials' | 'params' | 'probes' | 'requires'> &
  Partial<Pick<ExporterTemplate, 'containerName' | 'portName' | 'scheme' | 'env' | 'credentials' | 'params' | 'probes' | 'requires'>>;

/** Fills the defaults the file format leaves optional, adds the hash and freezes the result. */
function finish(file: TemplateFile): ExporterTemplate {
  // Spelled out in the order of ExporterTemplate so `templates show` reads top-down.
  const filled: Omit<ExporterTemplate, 'hash'> = {
    name: file.name,
    version: file.version,
    description: file.description,
    source: file.source,
    image: file.image,
    containerName: file.containerName ?? `${file.name}-exporter`,
    port: file.port,
    portName: file.portName ?? `${file.name}-metrics`,
    path: file.path,
    scheme: file.scheme ?? 'http',
    ...(file.listens === undefined || file.listens.length === 0 ? {} : { listens: file.listens }),
    target: file.target,
    args: file.args,
    env: file.env ?? [],
    credentials: (file.credentials ?? []).map((c) => ({ ...c, required: c.required ?? false })),
    params: (file.params ?? []).map((p) => ({ ...p, required: p.required ?? false })),
    resources: file.resources,
    securityContext: file.securityContext,
    probes: file.probes ?? {},
    requires: file.requires ?? {},
    ...(file.scratchDir === undefined ? {} : { scratchDir: file.scratchDir }),
  };
  return deepFreeze({ ...filled, hash: templateHash(filled) });
}

/** `sha256:` + 16 hex characters over the canonical JSON (sorted keys) of the resolved template. */
export function templateHash(template: Omit<ExporterTemplate, 'hash'>): string {
  return `sha256:${createHash('sha256').update(canonicalJson(template)).digest('hex').slice(0, 16)}`;
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}


function dedupe(problems: SchemaProblem[]): SchemaProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${formatPath(p.path)}\0${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function describe(origin: string, line: number | undefined, p: SchemaProblem): string {
  const where = p.path.length === 0 ? '' : `${formatPath(p.path)}: `;
  return `${origin}${line === undefined ? '' : `:${line}`}: ${where}${p.message}`;
}

/** The line of the node at `path`, or of its nearest existing ancestor. */
function lineOf(doc: Document.Parsed, lc: LineCounter, path: DocPath): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node: unknown = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return lc.linePos(range[0]).line;
  }
  return undefined;
}

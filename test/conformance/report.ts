// The suite's answer: a table on stdout, the same table (plus how each exporter was run) as markdown.
import type { Row } from './prove.js';

const HEADERS = ['template', 'exporter version tested', 'server', 'result', 'notes'] as const;

const cells = (r: Row): string[] => [r.template, r.exporter, r.server, r.result, r.notes];

export function textTable(rows: readonly Row[]): string {
  const all = [[...HEADERS], ...rows.map(cells)];
  // The last column (notes) is not padded: it is long and wraps anyway.
  const widths = HEADERS.slice(0, -1).map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i < widths.length ? c.padEnd(widths[i] ?? 0) : c)).join(' | ')).join('\n');
}

const md = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

export interface Summary {
  readonly passed: number;
  readonly failed: number;
}

export function summarize(rows: readonly Row[]): Summary {
  return { passed: rows.filter((r) => r.result === 'pass').length, failed: rows.filter((r) => r.result === 'FAIL').length };
}

export function markdownReport(rows: readonly Row[], context: { prometheus: string; templatesDir?: string; durationMs: number }): string {
  const { passed, failed } = summarize(rows);
  const lines = [
    '# Conformance: built-in templates against the Debian exporters',
    '',
    `Prometheus ${context.prometheus}; templates: built-ins${context.templatesDir ? ` + ${context.templatesDir}` : ''}; ${(context.durationMs / 1000).toFixed(1)} s.`,
    '',
    `| ${HEADERS.join(' | ')} |`,
    `|${HEADERS.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${cells(r).map(md).join(' | ')} |`),
    '',
    `${passed} passed, ${failed} failed`,
    '',
  ];
  const detailed = rows.filter((r) => r.details.length > 0);
  if (detailed.length > 0) {
    lines.push('## How each exporter ran', '');
    for (const r of detailed) {
      lines.push(`### ${r.template} (${r.result})`, '', ...r.details.map((d) => `- \`${d.replaceAll('`', "'")}\``), '');
    }
  }
  return lines.join('\n');
}

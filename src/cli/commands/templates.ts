// `exporter-injector templates list|show NAME|validate [DIR]`: what the registry holds, and a
// check of a template directory before it is mounted into the webhook.
import { acceptedParams } from '../../core/render.js';
import type { ExporterTemplate } from '../../core/types.js';
import { closest } from '../../core/values.js';
import { EXIT, InjectorError } from '../../errors.js';
import { BUILTIN_DIR, loadRegistry } from '../../registry/load.js';
import { readTemplateDir } from '../../registry/validate.js';
import { defineCommand } from '../command.js';
import { toYaml } from '../yaml-output.js';

const SUBCOMMANDS = ['list', 'show', 'validate'] as const;

export const templates = defineCommand(
  {
    name: 'templates',
    summary: 'list, show or validate exporter templates',
    usage: 'list|show NAME|validate [DIR] [flags]',
    description: [
      'What the registry holds, and a check of a template directory before it is mounted into the webhook.',
      '',
      'subcommands:',
      '  list                 one line per template: name, version, image, port, default target',
      '  show NAME            the resolved template (defaults filled, with its hash) and every parameter it accepts',
      '  validate [DIR]       check every template file in DIR (default: the built-ins) and list every problem',
    ].join('\n'),
    flags: {
      templates: { type: 'string', value: 'DIR', help: 'user templates (*.yaml, *.yml, *.json) that add to or override the built-ins; for validate, the directory to check' },
      output: { type: 'string', short: 'o', value: 'FORMAT', help: 'show: yaml (default) or json; list: table (default) or json' },
    },
    positionals: 2,
    examples: ['exporter-injector templates list', 'exporter-injector templates show redis', 'exporter-injector templates validate my-templates/'],
    exits: { 1: 'validate found problems', 3: 'a template directory cannot be read' },
  },
  async ({ values, positionals }, io) => {
    const [sub, ...rest] = positionals;
    if (sub === undefined) throw new InjectorError('EI_ERR_USAGE', `templates: missing subcommand; valid subcommands: ${SUBCOMMANDS.join(', ')}`);
    const userDir = values.templates;

    switch (sub) {
      case 'list': {
        noMorePositionals(sub, rest);
        const output = oneOf('--output', values.output ?? 'table', ['table', 'json']);
        const registry = await loadRegistry(userDir);
        const all = [...registry.templates.values()];
        if (output === 'json') {
          io.stdout(`${JSON.stringify(all, null, 2)}\n`);
          return EXIT.OK;
        }
        io.stdout(table(['NAME', 'VERSION', 'IMAGE', 'PORT', 'TARGET'], all.map(row)));
        return EXIT.OK;
      }
      case 'show': {
        const [name, ...more] = rest;
        if (name === undefined) throw new InjectorError('EI_ERR_USAGE', 'templates show: missing template NAME; run "exporter-injector templates list" for the names');
        noMorePositionals(sub, more);
        const output = oneOf('--output', values.output ?? 'yaml', ['yaml', 'json']);
        const registry = await loadRegistry(userDir);
        const t = registry.templates.get(name);
        if (!t) {
          const hint = closest(name, registry.templates.keys());
          throw new InjectorError(
            'EI_ERR_TEMPLATE_UNKNOWN',
            `templates show: no template named "${name}"${hint ? ` (did you mean ${hint}?)` : ''}; valid names: ${[...registry.templates.keys()].sort().join(', ')}`,
          );
        }
        const shown = showable(t);
        io.stdout(output === 'json' ? `${JSON.stringify(shown, null, 2)}\n` : toYaml(shown));
        return EXIT.OK;
      }
      case 'validate': {
        const [dir, ...more] = rest;
        noMorePositionals(sub, more);
        if (values.output !== undefined) throw new InjectorError('EI_ERR_USAGE', 'templates validate: --output is not used by validate');
        if (dir !== undefined && userDir !== undefined && dir !== userDir) {
          throw new InjectorError('EI_ERR_USAGE', `templates validate: two directories given ("${dir}" and --templates "${userDir}"); give one`);
        }
        const target = dir ?? userDir ?? BUILTIN_DIR;
        const set = await readTemplateDir(target);
        if (set.problems.length > 0) {
          // A failed validation is this command's answer (exit 1), not an unreadable input (exit 3).
          const n = set.problems.length;
          io.stderr(`error: ${n} problem${n === 1 ? '' : 's'} in templates directory ${target}\n${set.problems.map((p) => `  - ${p}\n`).join('')}`);
          return EXIT.FAILED;
        }
        const n = set.templates.length;
        io.stdout(`${n} template${n === 1 ? '' : 's'} valid${n === 0 ? ` (no *.yaml, *.yml or *.json files in ${target})` : ''}\n`);
        return EXIT.OK;
      }
      default: {
        const hint = closest(sub, SUBCOMMANDS);
        throw new InjectorError('EI_ERR_USAGE', `templates: unknown subcommand "${sub}"${hint ? ` (did you mean ${hint}?)` : ''}; valid subcommands: ${SUBCOMMANDS.join(', ')}`);
      }
    }
  },
);

function noMorePositionals(sub: string, extra: string[]): void {
  if (extra.length > 0) throw new InjectorError('EI_ERR_USAGE', `templates ${sub}: unexpected argument "${extra[0] ?? ''}"`);
}

function oneOf<T extends string>(flag: string, value: string, valid: readonly T[]): T {
  if (!(valid as readonly string[]).includes(value)) {
    throw new InjectorError('EI_ERR_USAGE', `templates: ${flag} "${value}" is not valid; valid values: ${valid.join(', ')}`);
  }
  return value as T;
}

/**
 * The template as `show` prints it: `params` lists every parameter the template accepts, the generic
 * ones it honours as well as its declared ones, each with its kind and description (a declared
 * param keeps its own fields; secretFiles ones list the Secret keys they read).
 */
function showable(t: ExporterTemplate): Record<string, unknown> {
  const declared = new Map(t.params.map((p) => [p.name, p]));
  const params = acceptedParams(t).map((p) => ({ ...(declared.get(p.name) ?? {}), ...p }));
  return { ...t, params };
}

function row(t: ExporterTemplate): string[] {
  return [t.name, t.version, t.image, String(t.port), t.target.format === 'none' ? '-' : t.target.default];
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}

// One way to declare and parse a command line, print usage, suggest and fail, for every command. A
// command declares its flags once (in its own file under src/cli/commands/, or src/config/ for
// settings several commands share); parsing, choices, environment variables, --help and
// "did you mean" all follow from that declaration.
import { closest } from '../core/values.js';
import { EXIT_MEANINGS, InjectorError, type ExitCode } from '../errors.js';

export interface Flag {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Repeatable: every occurrence is kept, in order. */
  readonly multiple?: boolean;
  /** Placeholder in the help, e.g. FILE. */
  readonly value?: string;
  readonly help: string;
  /** The only values accepted (string flags). */
  readonly choices?: readonly string[];
  /** Used when the flag (and its environment variable) is absent. */
  readonly default?: string;
  /** Shown as the default in the help when the command applies the default itself. */
  readonly shownDefault?: string;
  /** An environment variable that stands in for the flag (the flag wins). */
  readonly env?: string;
}

export type Flags = Readonly<Record<string, Flag>>;

type StringOf<F extends Flag> = F extends { readonly choices: readonly (infer C)[] } ? C : string;
type ValueOf<F extends Flag> = F['type'] extends 'boolean'
  ? boolean
  : F['multiple'] extends true
    ? string[]
    : F extends { readonly default: string }
      ? StringOf<F>
      : StringOf<F> | undefined;

export type FlagValues<F extends Flags> = { -readonly [K in keyof F]: ValueOf<F[K]> };

export interface CommandSpec<F extends Flags = Flags> {
  /** As typed after the binary: `inject`, `templates`. */
  readonly name: string;
  readonly summary: string;
  /** What follows the name in the usage line, e.g. `-f FILE|DIR|- [flags]`. */
  readonly usage: string;
  readonly description?: string;
  readonly flags: F;
  /** Positional arguments accepted (0 when absent). */
  readonly positionals?: number;
  readonly examples?: readonly string[];
  /** The exit codes this command uses, with what they mean for it (defaults from the catalog). */
  readonly exits?: Readonly<Partial<Record<ExitCode, string>>>;
}

export interface Parsed<F extends Flags> {
  readonly values: FlagValues<F>;
  /** Where each set value came from: `--flag`, `-f` or the environment variable's name. */
  readonly sources: Readonly<Partial<Record<keyof F, string>>>;
  readonly positionals: readonly string[];
  readonly help: boolean;
  /**
   * Values that do not fit their flag (a choice, an environment boolean), all of them, so a command
   * can report them together with its own checks; the flag keeps its default meanwhile.
   */
  readonly problems: readonly string[];
}

const HELP_FLAGS = new Set(['--help', '-h']);

function usageError(spec: CommandSpec, message: string): InjectorError {
  return new InjectorError('EI_ERR_USAGE', `${spec.name}: ${message} (see "exporter-injector ${spec.name} --help")`);
}

/** Parses argv (and the environment) against the spec. Throws EI_ERR_USAGE naming the flag and what is valid. */
export function parseFlags<F extends Flags>(spec: CommandSpec<F>, argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Parsed<F> {
  const flags = spec.flags as Flags;
  const byShort = new Map(Object.entries(flags).flatMap(([name, f]) => (f.short ? [[f.short, name] as const] : [])));
  const values: Record<string, string | boolean | string[] | undefined> = {};
  const sources: Record<string, string> = {};
  const positionals: string[] = [];
  const problems: string[] = [];
  let help = false;

  const set = (name: string, flag: Flag, written: string, raw: string | boolean): void => {
    if (typeof raw === 'string' && flag.choices && !flag.choices.includes(raw)) {
      const hint = closest(raw, flag.choices);
      problems.push(`${written} ${JSON.stringify(raw)} is invalid${hint ? ` (did you mean ${hint}?)` : ''}; valid: ${flag.choices.join(', ')}`);
      if (!flag.multiple && !(name in values)) values[name] = flag.default;
      sources[name] = written;
      return;
    }
    if (flag.multiple) values[name] = [...((values[name] as string[] | undefined) ?? []), raw as string];
    else if (name in values) throw usageError(spec, `${written} is given twice; give it once`);
    else values[name] = raw;
    sources[name] = written;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (HELP_FLAGS.has(arg)) {
      help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const eq = arg.indexOf('=');
    const written = eq > 0 ? arg.slice(0, eq) : arg;
    const name = long ? written.slice(2) : byShort.get(written.slice(1));
    const flag = name === undefined ? undefined : flags[name];
    if (name === undefined || flag === undefined) {
      const candidates = [...Object.keys(flags).map((n) => `--${n}`), ...[...byShort.keys()].map((s) => `-${s}`), '--help'];
      const hint = closest(written, candidates);
      throw usageError(spec, `unknown flag ${written}${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (flag.type === 'boolean') {
      if (inline === undefined) set(name, flag, written, true);
      else if (inline === 'true' || inline === 'false') set(name, flag, written, inline === 'true');
      else throw usageError(spec, `${written} takes no value, or =true / =false; got ${JSON.stringify(inline)}`);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      // A value that looks like a flag is almost always a forgotten value ("-o --explain").
      if (next === undefined || (next.startsWith('-') && next !== '-')) {
        throw usageError(spec, `${written} needs a value${flag.value ? ` (${flag.value})` : ''}${flag.choices ? `; valid: ${flag.choices.join(', ')}` : ''}`);
      }
      value = next;
      i++;
    }
    set(name, flag, written, value);
  }

  for (const [name, flag] of Object.entries(flags)) {
    if (name in values) continue;
    const fromEnv = flag.env === undefined ? undefined : env[flag.env];
    if (fromEnv !== undefined) {
      if (flag.type === 'boolean') {
        const v = fromEnv.toLowerCase();
        if (!['true', 'false', '1', '0', ''].includes(v)) problems.push(`${flag.env} ${JSON.stringify(fromEnv)} is invalid; valid: true or false`);
        values[name] = v === 'true' || v === '1';
        sources[name] = flag.env as string;
      } else {
        set(name, flag, flag.env as string, fromEnv);
      }
      continue;
    }
    values[name] = flag.type === 'boolean' ? false : flag.multiple ? [] : flag.default;
  }

  const allowed = spec.positionals ?? 0;
  if (!help && positionals.length > allowed) {
    throw usageError(spec, allowed === 0 ? `unexpected argument ${JSON.stringify(positionals[0])}; this command takes flags only` : `unexpected argument ${JSON.stringify(positionals[allowed])}`);
  }
  return { values: values as FlagValues<F>, sources: sources as Parsed<F>['sources'], positionals, help, problems };
}

/** The command's --help text, from its spec. */
export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(spec.flags).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.type === 'string' ? ` ${f.value ?? (f.choices ? f.choices.join('|') : 'VALUE')}` : ''}`;
    const notes = [
      f.choices && f.value ? `one of ${f.choices.join(', ')}` : '',
      (f.default ?? f.shownDefault ?? '') !== '' ? `default ${f.default ?? f.shownDefault}` : '',
      f.env ? `env ${f.env}` : '',
      f.multiple ? 'repeatable' : '',
    ].filter((n) => n !== '');
    return `  ${left.padEnd(30)} ${f.help}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
  });
  rows.push(`  ${'-h, --help'.padEnd(30)} show this help`);
  const exits = Object.entries({ ...EXIT_MEANINGS, ...spec.exits }).map(([code, meaning]) => `  ${code}  ${meaning}`);
  return [
    `usage: exporter-injector ${spec.name} ${spec.usage}`,
    '',
    spec.description ?? spec.summary,
    '',
    'flags:',
    ...rows,
    ...(spec.examples?.length ? ['', 'examples:', ...spec.examples.map((e) => `  ${e}`)] : []),
    '',
    'exit codes:',
    ...exits,
    '',
  ].join('\n');
}

// A command of the binary: its declared command line (src/config/flags.ts) bound to what it does.
import { EXIT, InjectorError } from '../errors.js';
import { helpText, parseFlags, type CommandSpec, type Flags, type Parsed } from '../config/flags.js';
import type { CliIo } from './io.js';

/** A command: its declared command line and what it does with it. */
export interface Command {
  readonly spec: CommandSpec;
  /** Takes the command's own argv (after its name); returns the exit code or throws an InjectorError. */
  readonly run: (argv: readonly string[], io: CliIo) => Promise<number>;
}

/** Binds a spec to its implementation: --help, parsing and usage errors are handled here, once. */
export function defineCommand<F extends Flags>(
  spec: CommandSpec<F>,
  run: (args: Parsed<F>, io: CliIo) => Promise<number>,
  /** The command reports parsed.problems itself, together with its own checks (serve's settings). */
  options: { readonly reportsProblems?: boolean } = {},
): Command {
  return {
    spec,
    run: async (argv, io) => {
      const parsed = parseFlags(spec, argv, io.env);
      if (parsed.help) {
        io.stdout(helpText(spec));
        return EXIT.OK;
      }
      if (parsed.problems.length > 0 && !options.reportsProblems) throw usageProblems(spec, parsed.problems);
      return run(parsed, io);
    },
  };
}

/** One error for every value that did not fit, each listed. */
export function usageProblems(spec: CommandSpec, problems: readonly string[]): InjectorError {
  const message = problems.length === 1 ? (problems[0] ?? '') : `${problems.length} flag values are invalid`;
  return new InjectorError('EI_ERR_USAGE', `${spec.name}: ${message} (see "exporter-injector ${spec.name} --help")`, { details: problems.length === 1 ? [] : problems });
}

#!/usr/bin/env node
// The `exporter-injector` binary: dispatches to one command a file and turns errors into exit codes
// through the error catalog, so every command fails the same way.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { closest } from '../core/values.js';
import { EXIT, exitCodeOf, isInjectorError } from '../errors.js';
import { VERSION } from '../package-info.js';
import type { Command } from './command.js';
import { processIo, type CliIo } from './io.js';

/** Loaded on use, so `serve` does not pay for the other commands' imports at start-up. */
export const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  serve: async () => (await import('./commands/serve.js')).serve,
  inject: async () => (await import('./commands/inject.js')).inject,
  review: async () => (await import('./commands/review.js')).review,
  templates: async () => (await import('./commands/templates.js')).templates,
  certs: async () => (await import('./commands/certs.js')).certs,
  register: async () => (await import('./commands/register.js')).register,
  install: async () => (await import('./commands/install.js')).install,
  unregister: async () => (await import('./commands/register.js')).unregister,
};

async function usage(): Promise<string> {
  const lines = [];
  for (const [name, load] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(11)} ${(await load()).spec.summary}`);
  return [
    'usage: exporter-injector <command> [flags]',
    '',
    'commands:',
    ...lines,
    '',
    "'exporter-injector <command> --help' shows a command's flags; 'exporter-injector --version' the version.",
    '',
  ].join('\n');
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(await usage());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '--version' || name === 'version') {
    io.stdout(`exporter-injector ${VERSION}\n`);
    return EXIT.OK;
  }
  const load = COMMANDS[name];
  if (!load) {
    const hint = closest(name, Object.keys(COMMANDS));
    io.stderr(`error: unknown command "${name}"${hint ? ` (did you mean ${hint}?)` : ''}; valid commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return EXIT.USAGE;
  }
  try {
    return await (await load()).run(rest, io);
  } catch (e) {
    if (isInjectorError(e)) {
      io.stderr(`error: ${e.message}\n${e.details.map((d) => `  - ${d}\n`).join('')}`);
      return exitCodeOf(e.code);
    }
    // A bug: say so plainly; the stack only on request, so users see one line.
    io.stderr(`error: internal error (EI_ERR_INTERNAL), please report it: ${e instanceof Error ? e.message : String(e)}\n`);
    if (io.env.EXPORTER_INJECTOR_DEBUG) io.stderr(`${e instanceof Error ? e.stack : ''}\n`);
    return exitCodeOf('EI_ERR_INTERNAL');
  }
}

// Run only as the entry point, so tests can import main() without side effects.
const invokedAs = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invokedAs === fileURLToPath(import.meta.url)) {
  const io = processIo();
  main(process.argv.slice(2), io).then(
    (code) => {
      // serve keeps the event loop alive itself; other commands end here.
      if (code !== EXIT.OK || process.argv[2] !== 'serve') process.exitCode = code;
    },
    (e: unknown) => {
      io.stderr(`error: ${String(e)}\n`);
      process.exitCode = EXIT.FAILED;
    },
  );
}

#!/usr/bin/env node
// The `exporter-injector` binary: dispatches to one command a file and maps errors to exit codes.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isInjectorError } from '../errors.js';
import { EXIT, processIo, type CliIo, type Command } from './io.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  serve: { summary: 'run the TLS admission webhook', load: async () => (await import('./commands/serve.js')).serve },
  inject: { summary: 'dry-run: print what the webhook would do to manifests', load: async () => (await import('./commands/inject.js')).inject },
  review: { summary: 'answer an AdmissionReview exactly as serve would', load: async () => (await import('./commands/review.js')).review },
  templates: { summary: 'list, show or validate exporter templates', load: async () => (await import('./commands/templates.js')).templates },
  certs: { summary: 'create a CA and a serving certificate (files or a Secret manifest)', load: async () => (await import('./commands/certs.js')).certs },
  register: { summary: 'create or update the MutatingWebhookConfiguration', load: async () => (await import('./commands/register.js')).register },
  unregister: { summary: 'delete the MutatingWebhookConfiguration', load: async () => (await import('./commands/register.js')).unregister },
  check: { summary: 'prove the installed webhook works, end to end (dry-run probe pods)', load: async () => (await import('./commands/check.js')).check },
  audit: { summary: 'list opted-in pods that missed injection or drifted, by workload; --restart rolls them', load: async () => (await import('./commands/audit.js')).audit },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return `usage: exporter-injector <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\n'exporter-injector <command> --help' shows a command's flags.\n`;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`error: unknown command "${name}"; valid commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return EXIT.USAGE;
  }
  try {
    return await (await command.load())(rest, io);
  } catch (e) {
    if (isInjectorError(e)) {
      io.stderr(`error: ${e.message}\n${e.details.map((d) => `  - ${d}\n`).join('')}`);
      if (e.code === 'EI_ERR_USAGE' || e.code === 'EI_ERR_CONFIG_INVALID') return EXIT.USAGE;
      if (e.code === 'EI_ERR_INPUT_INVALID' || e.code === 'EI_ERR_REGISTRY_INVALID') return EXIT.INPUT;
      return EXIT.FAILED;
    }
    // node:util parseArgs reports unknown flags and missing values with ERR_PARSE_ARGS_* codes.
    if (e instanceof Error && String((e as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`error: ${e.message} (see exporter-injector ${name} --help)\n`);
      return EXIT.USAGE;
    }
    io.stderr(`error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    return EXIT.FAILED;
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

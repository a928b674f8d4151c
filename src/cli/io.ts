// The small I/O surface every command gets, so commands run in tests without a process.
import { readFile } from 'node:fs/promises';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A command takes its own argv (after the command name) and returns the exit code. */
export type Command = (argv: string[], io: CliIo) => Promise<number>;

/** Exit codes, documented in the README. */
export const EXIT = {
  OK: 0,
  /** A pod would be denied, a validation failed, or an operation failed. */
  FAILED: 1,
  /** The command line does not fit the command. */
  USAGE: 2,
  /** An input file could not be read or parsed. */
  INPUT: 3,
} as const;

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    env: process.env,
  };
}

/** Reads a file, or standard input for `-`. */
export async function readInput(path: string, io: CliIo): Promise<string> {
  return path === '-' ? io.readStdin() : readFile(path, 'utf8');
}

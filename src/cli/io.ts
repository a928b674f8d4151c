// The small I/O surface every command gets, so commands run in tests without a process.
import { readFile } from 'node:fs/promises';
import { InjectorError } from '../errors.js';

export { EXIT } from '../errors.js';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
}

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

/** What the user types for standard input. */
export const STDIN = '-';

/** How an input is named in every message of every command. */
export const inputName = (path: string): string => (path === STDIN ? '<stdin>' : path);

/** Reads a file, or standard input for `-`; a file that cannot be read is an input error that names it. */
export async function readInput(path: string, io: CliIo): Promise<string> {
  if (path === STDIN) return io.readStdin();
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new InjectorError('EI_ERR_INPUT_INVALID', `${inputName(path)}: ${describeFsError(e)}`, { cause: e });
  }
}

/** `no such file or directory`, not `ENOENT: no such file or directory, open '...'`. */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory; give a file';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    default:
      return code ?? (e instanceof Error ? e.message : String(e));
  }
}

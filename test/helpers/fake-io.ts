// A CliIo that records what a command prints, for running commands in-process.
import type { CliIo } from '../../src/cli/io.js';

export function fakeIo(stdin = '', env: Record<string, string | undefined> = {}): { io: CliIo; stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: (t) => void (out += t),
      stderr: (t) => void (err += t),
      readStdin: async () => stdin,
      env,
    },
    stdout: () => out,
    stderr: () => err,
  };
}

// Shared by the TLS tests: a throw-away folder per test and an in-memory CliIo.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { CliIo } from '../../src/cli/io.js';

export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ei-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface MemoryIo extends CliIo {
  readonly out: () => string;
  readonly err: () => string;
}

export function memoryIo(): MemoryIo {
  let out = '';
  let err = '';
  return {
    stdout: (text) => void (out += text),
    stderr: (text) => void (err += text),
    readStdin: async () => '',
    env: {},
    out: () => out,
    err: () => err,
  };
}

// Noticing that files on disk changed, the way a mounted Secret or ConfigMap changes: the kubelet
// writes a new timestamped folder and swaps the `..data` symlink, so no event ever names tls.crt
// itself. The parent directory is watched, every event triggers a content comparison, and a poll
// covers file systems where fs.watch is silent (some overlay and network mounts).
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface ChangeWatch {
  /** Compares now (after the debounce when triggered by an event); resolves when done. */
  check(): Promise<void>;
  close(): void;
}

export interface ChangeWatchOptions {
  readonly dirs: readonly string[];
  /** A digest of what matters; the watch calls onChange only when it differs from the last one. */
  readonly signature: () => Promise<string>;
  readonly initialSignature: string;
  readonly onChange: () => Promise<void>;
  readonly intervalMs: number;
  /** Writes of a cert and then its key arrive as separate events; wait for the burst to end. */
  readonly debounceMs?: number;
  readonly onWatchError?: (error: Error) => void;
}

export function watchForChanges(options: ChangeWatchOptions): ChangeWatch {
  const debounceMs = options.debounceMs ?? 200;
  let last = options.initialSignature;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;

  const read = async (): Promise<string> => {
    try {
      return await options.signature();
    } catch (e) {
      // Unreadable (a file removed): a change the loader will report properly, once.
      return `unreadable:${(e as Error).message}`;
    }
  };

  // The kubelet swaps `..data` and then deletes the old folder, so one reading can straddle the
  // swap (half old, half new, or a file gone). Only a reading that two passes agree on counts.
  const settled = async (): Promise<string> => {
    let previous = await read();
    for (let i = 0; i < 5; i += 1) {
      await new Promise((r) => setTimeout(r, debounceMs));
      const current = await read();
      if (current === previous) return current;
      previous = current;
    }
    return previous;
  };

  const compare = async (): Promise<void> => {
    if ((await read()) === last) return;
    const current = await settled();
    if (current === last || closed) return;
    last = current;
    await options.onChange();
  };

  // Never two loads at once, and never a change missed while one runs.
  const check = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await compare();
        } while (again && !closed);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const trigger = (): void => {
    if (closed) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => void check(), debounceMs);
    debounce.unref();
  };

  const watchers: FSWatcher[] = [];
  for (const dir of new Set(options.dirs)) {
    try {
      const w = watch(dir, { persistent: false }, trigger);
      w.on('error', (e) => options.onWatchError?.(e));
      watchers.push(w);
    } catch (e) {
      options.onWatchError?.(e as Error);
    }
  }
  const poll = setInterval(() => void check(), options.intervalMs);
  poll.unref();

  return {
    check,
    close() {
      closed = true;
      clearInterval(poll);
      if (debounce) clearTimeout(debounce);
      for (const w of watchers) w.close();
    },
  };
}

/** Digest of the named files' contents (symlinks followed). */
export async function filesSignature(paths: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const path of paths) {
    hash.update(path).update('\0').update(await readFile(path)).update('\0');
  }
  return hash.digest('hex');
}

/**
 * Digest of a directory's visible files (names and contents, symlinks followed). Hidden entries
 * are the kubelet's `..data` bookkeeping, which the visible names already resolve through.
 */
export async function directorySignature(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  for (const name of names) {
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    hash.update(name).update('\0').update(await readFile(path)).update('\0');
  }
  return hash.digest('hex');
}

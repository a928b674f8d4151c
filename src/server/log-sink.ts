// Where the webhook's log lines go: standard output, in batches. A busy webhook logs one line per
// admission; writing each with its own system call cost more than forming it (and pino's async
// destination, which joins lines into one growing string and hands it to the thread pool, cost
// more still; docs/performance.md). Lines are kept in order in memory and written together, with
// one synchronous write, when 16 KiB have gathered, 50 ms after the first of them, when pino
// flushes (serve does before it exits, pino itself for a fatal line), or when the process exits
// (an uncaught error included). A SIGKILL (the OOM killer) loses at most the last 50 ms.
import { writeSync } from 'node:fs';

/** Bytes gathered before a write: a few dozen admission lines. */
const BATCH_BYTES = 16 * 1024;
/** The longest a line waits: soon enough for anyone following the log, long enough to batch. */
const FLUSH_DELAY_MS = 50;
/** How long a full pipe (a reader that stopped reading) is waited for, per try, before retrying. */
const FULL_PIPE_WAIT_MS = 10;
const FULL_PIPE_TRIES = 100;

/** Open sinks, flushed by one exit handler. */
const open = new Set<BatchedLogSink>();
let exitHandler = false;

export class BatchedLogSink {
  #lines: string[] = [];
  #bytes = 0;
  #broken = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly fd = 1) {
    open.add(this);
    if (!exitHandler) {
      exitHandler = true;
      process.once('exit', () => {
        for (const sink of open) sink.flushSync();
      });
    }
  }

  /** pino calls this with each formatted line (newline included). */
  write(line: string): boolean {
    if (this.#broken) return true;
    if (this.#lines.length === 0) this.#timer = setTimeout(() => this.flushSync(), FLUSH_DELAY_MS).unref();
    this.#lines.push(line);
    // UTF-16 length: close enough to a byte count for a batching threshold.
    this.#bytes += line.length;
    if (this.#bytes >= BATCH_BYTES) this.flushSync();
    return true;
  }

  /** pino's logger.flush(cb). */
  flush(cb?: (err?: Error) => void): void {
    this.flushSync();
    cb?.();
  }

  flushSync(): void {
    clearTimeout(this.#timer);
    if (this.#lines.length === 0 || this.#broken) return;
    const data = Buffer.from(this.#lines.join(''));
    this.#lines = [];
    this.#bytes = 0;
    let offset = 0;
    let tries = 0;
    while (offset < data.length) {
      try {
        // A pipe may take part of it.
        offset += writeSync(this.fd, data, offset);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' && tries++ < FULL_PIPE_TRIES) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, FULL_PIPE_WAIT_MS);
          continue;
        }
        // The reader is gone (EPIPE), stuck, or the descriptor unusable: logging stops, and
        // serving goes on (a failed log write must not fail an admission).
        this.#broken = true;
        try {
          writeSync(2, `exporter-injector: log output stopped: cannot write to file descriptor ${this.fd}: ${(e as Error).message}\n`);
        } catch {
          // standard error is gone too
        }
        return;
      }
    }
  }

  /** Writes what is gathered; the sink is no longer flushed at exit. */
  close(): void {
    this.flushSync();
    open.delete(this);
  }
}

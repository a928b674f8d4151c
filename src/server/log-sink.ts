// Where the webhook's log lines go: standard output, in batches. A busy webhook logs one line per
// admission; writing each with its own system call cost more than forming it (and pino's async
// destination, which joins lines into one growing string and hands it to the thread pool, cost
// more still; docs/performance.md). Lines are encoded in order into one reusable buffer as they
// come (while their text is still in the cache: joining them at the write cost ~1 µs a line) and
// written together, with one synchronous write, when 16 KiB have gathered, 50 ms after the first of
// them, when pino flushes (serve does before it exits, pino itself for a fatal line), or when the
// process exits (an uncaught error included). A SIGKILL (the OOM killer) loses at most the last 50 ms.
import { writeSync } from 'node:fs';

/** Bytes gathered before a write: a few dozen admission lines. */
const BATCH_BYTES = 16 * 1024;
/** The batch and room for one more long line; a line that would not fit even alone is written alone. */
const BUFFER_BYTES = 4 * BATCH_BYTES;
/** UTF-8 bytes per UTF-16 code unit, at most. */
const MAX_BYTES_PER_UNIT = 3;
/** The longest a line waits: soon enough for anyone following the log, long enough to batch. */
const FLUSH_DELAY_MS = 50;
/** How long a full pipe (a reader that stopped reading) is waited for, per try, before retrying. */
const FULL_PIPE_WAIT_MS = 10;
const FULL_PIPE_TRIES = 100;

/** Open sinks, flushed by one exit handler. */
const open = new Set<BatchedLogSink>();
let exitHandler = false;

export class BatchedLogSink {
  readonly #buffer = Buffer.allocUnsafeSlow(BUFFER_BYTES);
  /** Bytes of the buffer in use. */
  #used = 0;
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
    const mostBytes = line.length * MAX_BYTES_PER_UNIT;
    if (this.#used + mostBytes > BUFFER_BYTES) {
      this.flushSync();
      if (mostBytes > BUFFER_BYTES) {
        this.#writeAll(Buffer.from(line));
        return true;
      }
    }
    if (this.#used === 0) this.#timer = setTimeout(() => this.flushSync(), FLUSH_DELAY_MS).unref();
    this.#used += this.#buffer.write(line, this.#used);
    if (this.#used >= BATCH_BYTES) this.flushSync();
    return true;
  }

  /** pino's logger.flush(cb). */
  flush(cb?: (err?: Error) => void): void {
    this.flushSync();
    cb?.();
  }

  flushSync(): void {
    clearTimeout(this.#timer);
    if (this.#used === 0 || this.#broken) return;
    const used = this.#used;
    this.#used = 0;
    this.#writeAll(this.#buffer.subarray(0, used));
  }

  #writeAll(data: Buffer): void {
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

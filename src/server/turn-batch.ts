// Work on requests gathered over one turn of the event loop and done together after its I/O. Under
// load, one turn reads the bodies of many reviews (at saturation, 13-14 of 16 connections' in each
// turn). Answered each as its body completed, the core's work alternated with the TLS, HTTP and
// parsing work of the next request, each evicting the other's code and data from the caches, and
// every answer was a socket write that woke the client on its own. Done in a run at the end of the
// turn (setImmediate: after the poll phase's reads), the reads, the admissions and the writes each
// run back to back. Alone, a request waits only for the end of its own turn. docs/performance.md
// has the figures; Redis, too, writes its replies at the end of its event loop's turn.
//
// Waiting items keep their parsed bodies alive, so a batch holds at most `budget` bytes of them:
// the item that would take it over first gets the waiting ones done at once. Without a bound, a
// turn of large reviews held them all across garbage collections, which moved them to the old
// generation and grew the heap.
export class TurnBatch<T> {
  readonly #items: T[] = [];
  /** The waiting items' bytes. */
  #bytes = 0;
  #scheduled = false;
  #running = false;

  /**
   * `run` does the work for one item; when it throws, `failed` is called with the item and the
   * error, and the batch goes on with the next item. `failed` must not throw. `schedule` is for
   * tests.
   */
  constructor(
    private readonly budget: number,
    private readonly run: (item: T) => void,
    private readonly failed: (item: T, error: unknown) => void,
    private readonly schedule: (atTurnEnd: () => void) => void = setImmediate,
  ) {}

  add(item: T, bytes: number): void {
    // (While running, the run itself reaches the new item.)
    if (!this.#running && this.#items.length > 0 && this.#bytes + bytes > this.budget) this.#runAll();
    this.#items.push(item);
    this.#bytes += bytes;
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.schedule(this.#atTurnEnd);
    }
  }

  readonly #atTurnEnd = (): void => {
    try {
      this.#runAll();
    } finally {
      // After the run: an item added during it is reached by it, and needs no run of its own.
      this.#scheduled = false;
    }
  };

  #runAll(): void {
    const items = this.#items;
    this.#running = true;
    try {
      // Reads the length on every pass: an item added while running is done in this run.
      for (let i = 0; i < items.length; i += 1) {
        const item = items[i]!;
        try {
          this.run(item);
        } catch (error) {
          this.failed(item, error);
        }
      }
    } finally {
      // Emptied even if `failed` broke its promise, so the batch goes on working.
      items.length = 0;
      this.#bytes = 0;
      this.#running = false;
    }
  }
}

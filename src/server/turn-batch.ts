// Work on requests gathered over one turn of the event loop and done together after its I/O. Under
// load, one turn reads the bodies of many reviews (at saturation, 13-14 of 16 connections' in each
// turn); answering each as its body completes interleaved the core's work with the TLS, HTTP and
// parsing work of the next request, and each evicted the other's code and data from the caches.
// Done in a run at the end of the turn (setImmediate: after the poll phase's reads), the reads,
// the admissions and the writes each run warm, and the answers leave together. Alone, a request
// waits only for the end of its own turn. docs/performance.md has the figures; Redis defers its
// replies to the end of its event loop's turn for the same reason.
export class TurnBatch<T> {
  readonly #items: T[] = [];

  /**
   * `run` does the work for one item; when it throws, `failed` is called with the item and the
   * error, and the batch goes on with the next item. `failed` must not throw. `schedule` is for
   * tests.
   */
  constructor(
    private readonly run: (item: T) => void,
    private readonly failed: (item: T, error: unknown) => void,
    private readonly schedule: (drain: () => void) => void = setImmediate,
  ) {}

  add(item: T): void {
    if (this.#items.push(item) === 1) this.schedule(this.#drain);
  }

  readonly #drain = (): void => {
    const items = this.#items;
    try {
      // Reads the length on every pass: an item added while draining is done in this drain.
      for (let i = 0; i < items.length; i += 1) {
        const item = items[i]!;
        try {
          this.run(item);
        } catch (error) {
          this.failed(item, error);
        }
      }
    } finally {
      // Emptied even if `failed` broke its promise, so the next add schedules a drain again.
      items.length = 0;
    }
  };
}

// A value that is replaced as a whole (the registry, the serving certificate). Readers take the
// reference once per request, so a reload never shows a request half of the old and half of the new.
export class Current<T> {
  #value: T;

  constructor(initial: T) {
    this.#value = initial;
  }

  get(): T {
    return this.#value;
  }

  swap(next: T): T {
    const previous = this.#value;
    this.#value = next;
    return previous;
  }
}

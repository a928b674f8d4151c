// A cache of values by an object and a string, with a bound on the whole. Pods choose what the
// core's caches are keyed by (template params, list lengths), so none of them may grow with what
// pods send: when full, this one starts over (the values are cheap to make again). The objects
// are held weakly, so values of objects no longer used elsewhere go with them.
export class KeyedCache<O extends object, V> {
  #byObject = new WeakMap<O, Map<string, V>>();
  #size = 0;

  constructor(private readonly limit: number) {}

  get(object: O, key: string): V | undefined {
    return this.#byObject.get(object)?.get(key);
  }

  set(object: O, key: string, value: V): V {
    let byKey = this.#byObject.get(object);
    if (!byKey?.has(key)) {
      if (this.#size >= this.limit) {
        this.#byObject = new WeakMap();
        this.#size = 0;
        byKey = undefined;
      }
      this.#size += 1;
    }
    if (!byKey) this.#byObject.set(object, (byKey = new Map()));
    byKey.set(key, value);
    return value;
  }
}

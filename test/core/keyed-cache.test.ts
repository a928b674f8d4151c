// The core's caches are keyed by what pods send; KeyedCache keeps a bounded number of values in all.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedCache } from '../../src/core/keyed-cache.js';

describe('keyed cache', () => {
  it('keeps values by object and key', () => {
    const cache = new KeyedCache<object, string>(10);
    const a = {};
    const b = {};
    assert.equal(cache.set(a, 'k', 'a/k'), 'a/k', 'set returns the value');
    cache.set(b, 'k', 'b/k');
    assert.equal(cache.get(a, 'k'), 'a/k');
    assert.equal(cache.get(b, 'k'), 'b/k');
    assert.equal(cache.get(a, 'other'), undefined);
  });

  it('starts over when full, so what pods send cannot grow it', () => {
    const cache = new KeyedCache<object, number>(3);
    const objects = [{}, {}, {}, {}];
    objects.slice(0, 3).forEach((o, i) => cache.set(o, 'k', i));
    cache.set(objects[0]!, 'k', 0);
    assert.equal(cache.get(objects[2]!, 'k'), 2, 'setting a key it has does not count twice');
    cache.set(objects[3]!, 'k', 3);
    assert.deepEqual(
      objects.map((o) => cache.get(o, 'k')),
      [undefined, undefined, undefined, 3],
      'the fourth value started a new cache',
    );
  });
});

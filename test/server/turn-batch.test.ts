// The batch the webhook answers a turn's reviews in: nothing is done before the turn's I/O is over,
// everything added in a turn is done in order in one run, a failing item costs only itself, and
// the next turn gets a run of its own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TurnBatch } from '../../src/server/turn-batch.js';

const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('TurnBatch', () => {
  it('does the items added in one turn after it, in order, in one run', async () => {
    const done: string[] = [];
    const batch = new TurnBatch<string>(
      (item) => done.push(item),
      () => assert.fail('nothing fails'),
    );
    batch.add('a');
    // Scheduled after the first item's run: a run per item would have done only "a" by then.
    const doneAfterFirstRun = new Promise<string[]>((resolve) => setImmediate(() => resolve([...done])));
    batch.add('b');
    await Promise.resolve();
    batch.add('c');
    assert.deepEqual(done, [], 'nothing is done before the turn ends');
    assert.deepEqual(await doneAfterFirstRun, ['a', 'b', 'c'], 'one run did the whole turn');
    batch.add('d');
    assert.deepEqual(done, ['a', 'b', 'c'], 'a later turn waits for its own end');
    await endOfTurn();
    assert.deepEqual(done, ['a', 'b', 'c', 'd']);
  });

  it('hands a failing item to the failure callback and goes on with the others', async () => {
    const done: number[] = [];
    const failed: [number, unknown][] = [];
    const batch = new TurnBatch<number>(
      (item) => {
        if (item === 2) throw new TypeError('simulated bug');
        done.push(item);
      },
      (item, error) => failed.push([item, error]),
    );
    for (const item of [1, 2, 3]) batch.add(item);
    await endOfTurn();
    assert.deepEqual(done, [1, 3]);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]![0], 2);
    assert.match(String(failed[0]![1]), /simulated bug/);
  });

  it('does an item added while draining in the same run', () => {
    const done: string[] = [];
    const drains: (() => void)[] = [];
    const batch: TurnBatch<string> = new TurnBatch<string>(
      (item) => {
        done.push(item);
        if (item === 'first') batch.add('added while draining');
      },
      () => assert.fail('nothing fails'),
      (drain) => drains.push(drain),
    );
    batch.add('first');
    drains[0]!();
    assert.deepEqual(done, ['first', 'added while draining']);
    assert.equal(drains.length, 1, 'no second run was scheduled for it');
  });

  it('is emptied and scheduled again even when the failure callback broke its promise and threw', () => {
    const done: string[] = [];
    const drains: (() => void)[] = [];
    const batch = new TurnBatch<string>(
      (item) => {
        if (item === 'bad') throw new Error('bad item');
        done.push(item);
      },
      () => {
        throw new Error('failure callback broke');
      },
      (drain) => drains.push(drain),
    );
    batch.add('bad');
    assert.throws(() => drains[0]!(), /failure callback broke/);
    batch.add('next');
    assert.equal(drains.length, 2, 'the next item scheduled a run');
    drains[1]!();
    assert.deepEqual(done, ['next'], 'and only it was in that run');
  });
});

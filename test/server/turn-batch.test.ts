// The batch the webhook answers a turn's reviews in: nothing is done before the turn's I/O is over,
// everything added in a turn is done in order in one run, within a budget of bytes held, a failing
// item costs only itself, and the next turn gets a run of its own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TurnBatch } from '../../src/server/turn-batch.js';

/** A budget no test reaches, but the one about the budget. */
const BIG = 1e9;

const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('TurnBatch', () => {
  it('does the items added in one turn after it, in order, in one run', async () => {
    const done: string[] = [];
    const batch = new TurnBatch<string>(
      BIG,
      (item) => done.push(item),
      () => assert.fail('nothing fails'),
    );
    batch.add('a', 1);
    // Scheduled after the first item's run: a run per item would have done only "a" by then.
    const doneAfterFirstRun = new Promise<string[]>((resolve) => setImmediate(() => resolve([...done])));
    batch.add('b', 1);
    await Promise.resolve();
    batch.add('c', 1);
    assert.deepEqual(done, [], 'nothing is done before the turn ends');
    assert.deepEqual(await doneAfterFirstRun, ['a', 'b', 'c'], 'one run did the whole turn');
    batch.add('d', 1);
    assert.deepEqual(done, ['a', 'b', 'c'], 'a later turn waits for its own end');
    await endOfTurn();
    assert.deepEqual(done, ['a', 'b', 'c', 'd']);
  });

  it('holds at most its budget of bytes: the item that would go over it gets the waiting ones done first', () => {
    const done: string[] = [];
    const runs: (() => void)[] = [];
    const batch = new TurnBatch<string>(
      250,
      (item) => done.push(item),
      () => assert.fail('nothing fails'),
      (atTurnEnd) => runs.push(atTurnEnd),
    );
    batch.add('a', 100);
    batch.add('b', 100);
    assert.deepEqual(done, [], 'within the budget, they wait');
    batch.add('c', 100);
    assert.deepEqual(done, ['a', 'b'], 'c would have gone over: a and b were done at once');
    batch.add('huge', 1000);
    assert.deepEqual(done, ['a', 'b', 'c'], 'an item over the budget alone waits alone');
    assert.equal(runs.length, 1, 'one run at the end of the turn, for what is left');
    runs[0]!();
    assert.deepEqual(done, ['a', 'b', 'c', 'huge']);
    batch.add('next turn', 100);
    batch.add('and another', 100);
    assert.deepEqual(done, ['a', 'b', 'c', 'huge'], 'the run emptied the budget: both wait');
    assert.equal(runs.length, 2);
    runs[1]!();
    assert.deepEqual(done.slice(4), ['next turn', 'and another']);
  });

  it('hands a failing item to the failure callback and goes on with the others', async () => {
    const done: number[] = [];
    const failed: [number, unknown][] = [];
    const batch = new TurnBatch<number>(
      BIG,
      (item) => {
        if (item === 2) throw new TypeError('simulated bug');
        done.push(item);
      },
      (item, error) => failed.push([item, error]),
    );
    for (const item of [1, 2, 3]) batch.add(item, 1);
    await endOfTurn();
    assert.deepEqual(done, [1, 3]);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]![0], 2);
    assert.match(String(failed[0]![1]), /simulated bug/);
  });

  it('does an item added while running in the same run, over the budget or not', () => {
    const done: string[] = [];
    const runs: (() => void)[] = [];
    const batch: TurnBatch<string> = new TurnBatch<string>(
      1,
      (item) => {
        done.push(item);
        if (item === 'first') batch.add('added while running', 1);
      },
      () => assert.fail('nothing fails'),
      (atTurnEnd) => runs.push(atTurnEnd),
    );
    batch.add('first', 1);
    runs[0]!();
    assert.deepEqual(done, ['first', 'added while running']);
    assert.equal(runs.length, 1, 'no second run was scheduled for it');
  });

  it('is emptied and scheduled again even when the failure callback broke its promise and threw', () => {
    const done: string[] = [];
    const runs: (() => void)[] = [];
    const batch = new TurnBatch<string>(
      BIG,
      (item) => {
        if (item === 'bad') throw new Error('bad item');
        done.push(item);
      },
      () => {
        throw new Error('failure callback broke');
      },
      (atTurnEnd) => runs.push(atTurnEnd),
    );
    batch.add('bad', 1);
    assert.throws(() => runs[0]!(), /failure callback broke/);
    batch.add('next', 1);
    assert.equal(runs.length, 2, 'the next item scheduled a run');
    runs[1]!();
    assert.deepEqual(done, ['next'], 'and only it was in that run');
  });
});

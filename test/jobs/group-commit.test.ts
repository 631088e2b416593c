import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupCommit } from '../../src/jobs/group-commit.ts';

/** A flush that records each batch and holds it open until released, like a commit in flight. */
function heldFlush() {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const flush = async (items: number[]) => {
    batches.push(items);
    await new Promise<void>((resolve) => releases.push(resolve));
    if (items.includes(13)) throw new Error('unlucky batch');
    return items.map((item) => item * 10);
  };
  return { batches, releases, flush };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

test('items of one turn go in one flush; items arriving during a flush go together in the next one', async () => {
  const { batches, releases, flush } = heldFlush();
  const group = new GroupCommit(flush);
  const first = [group.add(1), group.add(2)];
  await nextTurn();
  assert.deepEqual(batches, [[1, 2]], 'flushed after one turn, no timer');
  const later = [group.add(3), group.add(4), group.add(5)];
  await nextTurn();
  assert.deepEqual(batches, [[1, 2]], 'they wait for the commit in flight');
  releases.shift()!();
  assert.deepEqual(await Promise.all(first), [10, 20], 'each caller gets its own outcome');
  await nextTurn();
  assert.deepEqual(batches, [
    [1, 2],
    [3, 4, 5],
  ]);
  releases.shift()!();
  assert.deepEqual(await Promise.all(later), [30, 40, 50]);
});

test('a failed flush rejects its own batch only, and the next batch still goes', async () => {
  const { batches, releases, flush } = heldFlush();
  const group = new GroupCommit(flush, 2);
  const held = group.add(1);
  await nextTurn();
  const failing = [group.add(13), group.add(5)];
  const after = group.add(6);
  releases.shift()!();
  await held;
  await nextTurn();
  releases.shift()!();
  for (const outcome of await Promise.allSettled(failing)) assert.equal(outcome.status, 'rejected');
  await nextTurn();
  assert.deepEqual(batches, [[1], [13, 5], [6]], 'batches are capped at maxBatch');
  releases.shift()!();
  assert.equal(await after, 60);
});

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

test('the first item is flushed at once; items arriving during a flush go together in the next one', async () => {
  const { batches, releases, flush } = heldFlush();
  const group = new GroupCommit(flush);
  const first = group.add(1);
  assert.deepEqual(batches, [[1]], 'no waiting for company when idle');
  const later = [group.add(2), group.add(3), group.add(4)];
  assert.deepEqual(batches, [[1]], 'they wait for the commit in flight');
  releases.shift()!();
  assert.equal(await first, 10);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(batches, [[1], [2, 3, 4]]);
  releases.shift()!();
  assert.deepEqual(await Promise.all(later), [20, 30, 40], 'each caller gets its own outcome');
});

test('a failed flush rejects its own batch only, and the next batch still goes', async () => {
  const { batches, releases, flush } = heldFlush();
  const group = new GroupCommit(flush, 2);
  const held = group.add(1);
  const failing = [group.add(13), group.add(5)];
  const after = group.add(6);
  releases.shift()!();
  await held;
  await new Promise((resolve) => setImmediate(resolve));
  releases.shift()!();
  for (const outcome of await Promise.allSettled(failing)) assert.equal(outcome.status, 'rejected');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(batches, [[1], [13, 5], [6]], 'batches are capped at maxBatch');
  releases.shift()!();
  assert.equal(await after, 60);
});

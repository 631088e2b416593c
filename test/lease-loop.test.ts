import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeaseLoop } from '../src/lease-loop.ts';

/** A queue in memory that counts lease calls, and items whose handling ends when the test says. */
function memoryQueue(items: number[]) {
  const queue = [...items];
  const finishers = new Map<number, () => void>();
  const handled: number[] = [];
  let leaseCalls = 0;
  const asked: number[] = [];
  const loop = new LeaseLoop<number>({
    concurrency: 2,
    pollIntervalMs: 60_000,
    leaseErrorDelayMs: 60_000,
    lease: async (max) => {
      leaseCalls++;
      asked.push(max);
      return queue.splice(0, max);
    },
    handle: (item) =>
      new Promise<void>((resolve) => {
        finishers.set(item, () => {
          handled.push(item);
          resolve();
        });
      }),
    onLeaseError: (error) => assert.fail(String(error)),
  });
  return { queue, finishers, handled, loop, asked, leaseCalls: () => leaseCalls };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a loop leases for all free slots at once, and a finished item makes room for the next', async () => {
  const memory = memoryQueue([1, 2, 3]);
  memory.loop.start();
  await settle();
  assert.deepEqual([...memory.finishers.keys()], [1, 2], 'both slots filled by one lease');
  assert.equal(memory.leaseCalls(), 1);
  memory.finishers.get(1)!();
  await settle();
  assert.deepEqual([...memory.finishers.keys()], [1, 2, 3]);
  memory.finishers.get(2)!();
  memory.finishers.get(3)!();
  await memory.loop.stop(1_000, () => {});
  assert.deepEqual(memory.handled, [1, 2, 3]);
});

test('a full loop that is woken again and again leases nothing until a slot frees (no spinning)', async () => {
  const memory = memoryQueue([1, 2]);
  memory.loop.start();
  await settle();
  const before = memory.leaseCalls();
  for (let wake = 0; wake < 100; wake++) memory.loop.wake();
  await settle();
  assert.equal(memory.leaseCalls(), before, 'no lease while every slot is busy');
  memory.queue.push(3);
  memory.finishers.get(1)!();
  await settle();
  assert.ok(memory.finishers.has(3), 'the freed slot took the new item');
  memory.finishers.get(2)!();
  memory.finishers.get(3)!();
  await memory.loop.stop(1_000, () => {});
});

test('an idle loop sleeps on its fallback poll and leases as soon as it is woken', async () => {
  const memory = memoryQueue([]);
  memory.loop.start();
  await settle();
  assert.equal(memory.leaseCalls(), 1, 'one look, then sleep');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(memory.leaseCalls(), 1, 'an idle loop does not poll before its interval');
  memory.queue.push(7);
  memory.loop.wake();
  await settle();
  assert.ok(memory.finishers.has(7));
  memory.finishers.get(7)!();
  await memory.loop.stop(1_000, () => {});
});

test('after the queue ran dry a wake-up asks for one item, and keeps leasing while it is answered in full', async () => {
  const memory = memoryQueue([]);
  memory.loop.start();
  await settle();
  assert.deepEqual(memory.asked, [2], 'a first look for every free slot, answered short');
  memory.queue.push(1);
  memory.loop.wake();
  await settle();
  // One item asked for and found: the queue may hold more, so the free slot looks once more.
  assert.deepEqual(memory.asked, [2, 1, 1]);
  assert.ok(memory.finishers.has(1));
  memory.finishers.get(1)!();
  await settle();
  assert.deepEqual(memory.asked, [2, 1, 1, 1], 'still short: one item asked for');
  memory.queue.push(2, 3, 4);
  memory.loop.wake();
  await settle();
  assert.deepEqual(
    memory.asked,
    [2, 1, 1, 1, 1, 1],
    'each answered in full: it looks again while a slot is free',
  );
  assert.deepEqual([...memory.finishers.keys()].sort(), [1, 2, 3]);
  memory.finishers.get(2)!();
  memory.finishers.get(3)!();
  await settle();
  memory.finishers.get(4)!();
  await memory.loop.stop(1_000, () => {});
  assert.deepEqual(memory.handled, [1, 2, 3, 4]);
});

test('leaseAlong takes the items a finishing item leased for its slot; the loop then leases nothing more', async () => {
  const memory = memoryQueue([1, 2, 3, 4]);
  memory.loop.start();
  await settle();
  assert.deepEqual([...memory.finishers.keys()], [1, 2]);
  const callsBefore = memory.leaseCalls();
  const askedAlong: number[] = [];
  // Item 1 finishes: its completion leases the next item for its slot in the same step.
  const answer = await memory.loop.leaseAlong(1, async (max) => {
    askedAlong.push(max);
    return { result: 'stored', leased: memory.queue.splice(0, max) };
  });
  assert.equal(answer, 'stored');
  assert.deepEqual(askedAlong, [1], 'one slot: the finishing item gives up its own');
  await settle();
  assert.ok(memory.finishers.has(3), 'the leased item is in hand at once');
  memory.finishers.get(1)!();
  await settle();
  assert.equal(memory.leaseCalls(), callsBefore, 'the freed slot was already taken: no lease of its own');
  assert.ok(!memory.finishers.has(4));
  memory.finishers.get(2)!();
  await settle();
  assert.ok(memory.finishers.has(4), 'an item that finishes without leasing along frees its slot as before');
  memory.finishers.get(3)!();
  memory.finishers.get(4)!();
  await memory.loop.stop(1_000, () => {});
  assert.deepEqual(memory.handled, [1, 2, 3, 4]);
});

test('leaseAlong gives 0 to lease while the loop is stopping or has a lease in flight', async () => {
  let releaseLease: (() => void) | undefined;
  const loop = new LeaseLoop<number>({
    concurrency: 2,
    pollIntervalMs: 60_000,
    leaseErrorDelayMs: 60_000,
    lease: () => new Promise<number[]>((resolve) => (releaseLease = () => resolve([]))),
    handle: async () => {},
    onLeaseError: (error) => assert.fail(String(error)),
  });
  loop.start();
  await settle();
  const asked: number[] = [];
  const along = (max: number) => {
    asked.push(max);
    return Promise.resolve({ result: undefined, leased: [] });
  };
  await loop.leaseAlong(1, along);
  releaseLease!();
  await settle();
  const stopped = loop.stop(1_000, () => {});
  await loop.leaseAlong(1, along);
  await stopped;
  assert.deepEqual(asked, [0, 0]);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThroughputFloor } from '../../src/sources/url/throughput-floor.ts';

test('nothing is too slow before one whole window has passed', () => {
  const floor = new ThroughputFloor(1000, 10_000, 0);
  floor.record(1, 5_000);
  assert.equal(floor.tooSlow(9_999), undefined);
  assert.ok(floor.tooSlow(10_000) !== undefined);
});

test('a trickle of one byte a second is too slow; a steady 2 KB/s is not', () => {
  const trickle = new ThroughputFloor(1024, 30_000, 0);
  const steady = new ThroughputFloor(1024, 30_000, 0);
  for (let second = 1; second <= 60; second++) {
    trickle.record(1, second * 1000);
    steady.record(2048, second * 1000);
  }
  assert.ok((trickle.tooSlow(60_000) ?? Number.POSITIVE_INFINITY) < 2);
  assert.equal(steady.tooSlow(60_000), undefined);
});

test('the rate is judged over the last window, so a fast start does not buy a slow tail', () => {
  const floor = new ThroughputFloor(1000, 10_000, 0);
  floor.record(10_000_000, 1_000);
  for (let second = 2; second <= 40; second++) floor.record(10, second * 1000);
  assert.ok(floor.tooSlow(40_000) !== undefined);
});

test('a floor of 0 is off', () => {
  const floor = new ThroughputFloor(0, 1000, 0);
  assert.equal(floor.tooSlow(1_000_000), undefined);
});

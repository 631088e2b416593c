import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketSecondsFor, verdictTimeline } from '../../src/jobs/scan-stats.ts';

test('hourly buckets up to two days, daily beyond', () => {
  assert.equal(bucketSecondsFor(1), 3600);
  assert.equal(bucketSecondsFor(48), 3600);
  assert.equal(bucketSecondsFor(49), 86_400);
});

test('the timeline has every bucket from since to now, zero-filled, aligned like the store', () => {
  const now = new Date('2026-06-01T12:30:00Z');
  const since = new Date('2026-06-01T09:30:00Z');
  const counts = [
    { bucketStart: new Date('2026-06-01T11:00:00Z'), clean: 3, infected: 1, unscannable: 0, blocked: 0 },
  ];
  const timeline = verdictTimeline(counts, since, now, 3600);
  assert.deepEqual(
    timeline.map((bucket) => [bucket.start.toISOString().slice(11, 16), bucket.clean, bucket.infected]),
    [
      ['09:00', 0, 0],
      ['10:00', 0, 0],
      ['11:00', 3, 1],
      ['12:00', 0, 0],
    ],
  );
});

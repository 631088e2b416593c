import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callbackRetryDelayMs, nextCallbackAttempt } from '../../src/delivery/retry-schedule.ts';

const policy = { retryBaseDelayMs: 5_000, retryMaxDelayMs: 2 * 3600_000, maxAgeSeconds: 24 * 3600 };

test('delays double from the base and stop at the cap', () => {
  const middle = [1, 2, 3, 4, 20].map((attempt) => callbackRetryDelayMs(attempt, policy, 0.5));
  assert.deepEqual(middle, [5_000, 10_000, 20_000, 40_000, 7_200_000]);
});

test('jitter spreads ±20 % without leaving [base, cap]', () => {
  assert.equal(callbackRetryDelayMs(3, policy, 0), 16_000);
  assert.equal(callbackRetryDelayMs(3, policy, 0.999999), 24_000);
  assert.equal(callbackRetryDelayMs(1, policy, 0), 5_000);
  assert.equal(callbackRetryDelayMs(30, policy, 0.999999), 7_200_000);
});

test('Retry-After is honoured up to the cap', () => {
  assert.equal(callbackRetryDelayMs(1, policy, 0.5, 60_000), 60_000);
  assert.equal(callbackRetryDelayMs(1, policy, 0.5, 1_000), 5_000);
  assert.equal(callbackRetryDelayMs(1, policy, 0.5, 99 * 3600_000), 7_200_000);
});

test('gives up once the next try would fall past the maximum age', () => {
  const created = new Date('2026-01-01T00:00:00Z');
  const early = nextCallbackAttempt(created, 2, new Date('2026-01-01T00:01:00Z'), policy, 0.5);
  assert.deepEqual(early, { action: 'retry', retryAt: new Date('2026-01-01T00:01:10Z') });
  const late = nextCallbackAttempt(created, 12, new Date('2026-01-01T23:00:00Z'), policy, 0.5);
  assert.equal(late.action, 'give_up');
});

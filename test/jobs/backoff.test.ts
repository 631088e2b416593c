import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exponentialDelayMs, retryDelayMs } from '../../src/jobs/backoff.ts';

const policy = { baseMs: 1_000, maxMs: 60_000 };

test('the delay doubles per attempt from the base and is capped', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => exponentialDelayMs(attempt, policy)),
    [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000],
  );
  assert.equal(exponentialDelayMs(0, policy), 1_000, 'attempt 0 is treated as the first');
  assert.equal(exponentialDelayMs(5_000, policy), 60_000, 'huge attempts do not overflow');
});

test('proportional jitter stays within ±20 % and never above the cap', () => {
  assert.equal(
    retryDelayMs(3, policy, () => 0),
    3_200,
  );
  assert.equal(
    retryDelayMs(3, policy, () => 0.5),
    4_000,
  );
  assert.equal(
    retryDelayMs(3, policy, () => 0.999999),
    4_800,
  );
  assert.equal(
    retryDelayMs(10, policy, () => 0.999999),
    60_000,
    'capped after jitter',
  );
  assert.equal(
    retryDelayMs(10, policy, () => 0),
    48_000,
  );
  for (let attempt = 1; attempt <= 12; attempt++) {
    const delay = retryDelayMs(attempt, policy);
    const base = exponentialDelayMs(attempt, policy);
    assert.ok(
      delay >= base * 0.8 && delay <= Math.min(base * 1.2, policy.maxMs),
      `attempt ${attempt}: ${delay}`,
    );
  }
});

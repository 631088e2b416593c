/**
 * Retry schedules, kept pure so they can be tested without a clock.
 *
 * `attempt` is the number of the attempt that just failed (1 for the first try, as counted by the job
 * store when it leases). The delay doubles per attempt from `baseMs` and never exceeds `maxMs`.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Each delay is spread ±20 % so retries of work that failed together (clamd restarted, one callback
 * receiver down) do not come back together.
 */
const PROPORTIONAL_SPREAD = 0.2;

/** The capped exponential delay before jitter: baseMs · 2^(attempt−1), at most maxMs. */
export function exponentialDelayMs(attempt: number, policy: BackoffPolicy): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // 2 ** 1100 is Infinity, which Math.min turns into maxMs: no overflow to guard against.
  return Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
}

/** The delay to wait before the next attempt, jittered; `random` returns a number in [0, 1). */
export function retryDelayMs(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const delay = exponentialDelayMs(attempt, policy);
  const jittered = delay * (1 - PROPORTIONAL_SPREAD + 2 * PROPORTIONAL_SPREAD * random());
  return Math.max(0, Math.min(policy.maxMs, Math.round(jittered)));
}

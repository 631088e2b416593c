import { retryDelayMs } from '../jobs/backoff.ts';

export interface CallbackRetryPolicy {
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /** A failing delivery is given up (failed) once it is this old. */
  maxAgeSeconds: number;
}

export type RetryDecision = { action: 'retry'; retryAt: Date } | { action: 'give_up'; reason: string };

/**
 * When to try a failed callback again: the shared capped exponential backoff (±20 % jitter).
 * A Retry-After from the receiver is honoured up to the cap. Pure: the clock and dice are inputs.
 */
export function callbackRetryDelayMs(
  failedAttempts: number,
  policy: Pick<CallbackRetryPolicy, 'retryBaseDelayMs' | 'retryMaxDelayMs'>,
  random: number,
  retryAfterMs?: number,
): number {
  const jittered = retryDelayMs(
    failedAttempts,
    { baseMs: policy.retryBaseDelayMs, maxMs: policy.retryMaxDelayMs },
    () => random,
  );
  // A callback never comes back sooner than the base delay, even when the jitter points below it.
  const delay = Math.max(jittered, policy.retryBaseDelayMs);
  if (retryAfterMs === undefined) return delay;
  return Math.round(Math.max(delay, Math.min(retryAfterMs, policy.retryMaxDelayMs)));
}

/** Retry, or give up when the next try would fall past the delivery's maximum age. */
export function nextCallbackAttempt(
  createdAt: Date,
  failedAttempts: number,
  now: Date,
  policy: CallbackRetryPolicy,
  random: number,
  retryAfterMs?: number,
): RetryDecision {
  const retryAt = new Date(
    now.getTime() + callbackRetryDelayMs(failedAttempts, policy, random, retryAfterMs),
  );
  const deadline = createdAt.getTime() + policy.maxAgeSeconds * 1000;
  if (retryAt.getTime() > deadline) {
    return {
      action: 'give_up',
      reason: `still failing after ${failedAttempts} attempts and ${policy.maxAgeSeconds} s`,
    };
  }
  return { action: 'retry', retryAt };
}

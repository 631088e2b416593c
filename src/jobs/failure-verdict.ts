import { type UnscannableReason, unscannable, type Verdict } from '../engine/verdict.ts';
import type { ErrorCode } from '../errors.ts';
import { isScanGateError } from '../errors.ts';

/** Failures that retrying cannot change, and the verdict they stand for. */
const FINAL_REASON: Partial<Record<ErrorCode, UnscannableReason>> = {
  blocked_destination: 'blocked_destination',
  size_limit: 'too_large',
  payload_too_large: 'too_large',
  object_not_found: 'not_found',
  access_denied: 'access_denied',
  download_failed: 'download_failed',
  download_timeout: 'download_timeout',
  unsupported_encoding: 'unsupported_format',
  empty_file: 'download_failed',
};

/** What a transient failure becomes once every attempt has been used. */
const EXHAUSTED_REASON: Partial<Record<ErrorCode, UnscannableReason>> = {
  download_failed: 'download_failed',
  download_timeout: 'download_timeout',
};

/**
 * Decides what a failed attempt means: a final unscannable verdict, or a retry.
 * Retryable errors become final once `attemptsLeft` is 0. Nothing here can produce `clean`.
 */
export function verdictForFailure(error: unknown, attemptsLeft: number): Verdict | 'retry' {
  const message = error instanceof Error ? error.message : String(error);
  if (isScanGateError(error)) {
    if (!error.retryable) {
      const reason = FINAL_REASON[error.code];
      if (reason) return unscannable(reason, message);
    }
    if (attemptsLeft > 0) return 'retry';
    return unscannable(EXHAUSTED_REASON[error.code] ?? 'engine_error', message);
  }
  // An unexpected error is treated as transient: another attempt may succeed, and the last one fails closed.
  if (attemptsLeft > 0) return 'retry';
  return unscannable('engine_error', message);
}

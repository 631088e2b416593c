/**
 * Errors are values with a stable code. `http/` maps codes to statuses once; workers use
 * `retryable` to choose between a retry with backoff and a final unscannable verdict.
 */
export type ErrorCode =
  // client errors
  | 'invalid_request'
  | 'unauthorized'
  | 'not_found'
  | 'duplicate_trace_id'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'empty_file'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'bucket_not_granted'
  | 'sns_topic_not_allowed'
  | 'sns_signature_invalid'
  | 'scan_not_running'
  | 'policy_wider_than_tenant'
  | 'request_timeout'
  | 'headers_too_large'
  // source failures
  | 'blocked_destination'
  | 'size_limit'
  | 'download_failed'
  | 'download_timeout'
  | 'unsupported_encoding'
  | 'access_denied'
  | 'object_not_found'
  | 's3_not_configured'
  // engine failures
  | 'engine_unavailable'
  | 'engine_error'
  | 'engine_timeout'
  // service state
  | 'store_unavailable'
  | 'shutting_down'
  | 'invalid_tls_certificate'
  | 'internal_error';

export class ScanGateError extends Error {
  override name = 'ScanGateError';
  readonly code: ErrorCode;
  /** True when the same work may succeed later (engine restarted, server back, network healed). */
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

export function isScanGateError(error: unknown): error is ScanGateError {
  return error instanceof ScanGateError;
}

/** The message of anything thrown: an Error's message, or the thrown value as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

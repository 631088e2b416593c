import { isScanGateError, ScanGateError } from '../../errors.ts';

/** Where a failed S3 call was pointed, for the message and details only. */
export interface S3ObjectRef {
  bucket: string;
  key: string;
  version?: string | undefined;
}

// S3 error codes as the SDK reports them in `error.name`. HEAD requests carry no body, so the SDK
// names those by status alone (NotFound, Forbidden).
const NOT_FOUND = new Set(['NoSuchKey', 'NoSuchBucket', 'NoSuchVersion', 'NotFound']);
const DENIED = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidObjectState', // archived (Glacier) objects cannot be read until restored by their owner
]);
const TRANSIENT = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequests',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function statusOf(error: SdkErrorShape): number | undefined {
  const status = error.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

function describe(ref: S3ObjectRef): string {
  return `s3://${ref.bucket}/${ref.key}${ref.version ? ` (version ${ref.version})` : ''}`;
}

/** The AWS SDK found no credentials anywhere in its chain: an operator's setting is missing. */
export function s3NotConfigured(cause: unknown): ScanGateError {
  return new ScanGateError(
    's3_not_configured',
    'S3 sources are not configured on this server: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (and S3_ENDPOINT for a compatible store), or give it an AWS role',
    { cause },
  );
}

function isMissingCredentials(name: string): boolean {
  return name === 'CredentialsProviderError';
}

/**
 * Maps whatever an S3 call or its body stream threw to one ScanGateError. Missing and forbidden
 * objects are final (a retry cannot make them appear); throttling, 5xx and network failures are
 * retryable; any other answer from S3 (bad request, wrong region) is a final download failure.
 */
export function classifyS3Error(error: unknown, ref: S3ObjectRef): ScanGateError {
  if (isScanGateError(error)) return error;
  const shape: SdkErrorShape = typeof error === 'object' && error !== null ? (error as SdkErrorShape) : {};
  const name = typeof shape.name === 'string' ? shape.name : '';
  const code = typeof shape.code === 'string' ? shape.code : '';
  const status = statusOf(shape);
  const where = describe(ref);
  if (isMissingCredentials(name)) return s3NotConfigured(error);
  const details = { bucket: ref.bucket, key: ref.key, s3Error: name || code || undefined, status };

  if (NOT_FOUND.has(name) || status === 404) {
    return new ScanGateError('object_not_found', `${where} does not exist`, { cause: error, details });
  }
  if (DENIED.has(name) || status === 403) {
    return new ScanGateError('access_denied', `access to ${where} was denied (${name || status})`, {
      cause: error,
      details,
    });
  }
  const transient =
    TRANSIENT.has(name) ||
    NETWORK_CODES.has(code) ||
    status === 408 ||
    status === 429 ||
    (status !== undefined && status >= 500) ||
    // No HTTP status means S3 never answered: connection, DNS or stream failure.
    status === undefined;
  const reason = name || code || (status !== undefined ? `HTTP ${status}` : 'unknown error');
  return new ScanGateError('download_failed', `reading ${where} failed: ${reason}`, {
    retryable: transient,
    cause: error,
    details,
  });
}

import type { FastifyError, FastifyInstance } from 'fastify';
import { type ErrorCode, isScanGateError, ScanGateError } from '../errors.ts';
import { lingerOnRefusal } from './lingering-close.ts';

/** The one place where error codes become HTTP statuses. */
const STATUS_BY_CODE: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  duplicate_trace_id: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  empty_file: 400,
  rate_limited: 429,
  quota_exceeded: 429,
  bucket_not_granted: 403,
  sns_topic_not_allowed: 403,
  sns_signature_invalid: 403,
  scan_not_running: 409,
  policy_wider_than_tenant: 400,
  request_timeout: 408,
  headers_too_large: 431,
  blocked_destination: 400,
  size_limit: 413,
  download_failed: 502,
  download_timeout: 504,
  unsupported_encoding: 502,
  access_denied: 403,
  object_not_found: 404,
  // The operator's setting is missing, not the client's request: the same request works once it is set.
  s3_not_configured: 503,
  engine_unavailable: 503,
  engine_error: 503,
  engine_timeout: 503,
  store_unavailable: 503,
  shutting_down: 503,
  invalid_tls_certificate: 500,
  internal_error: 500,
};

/** Fastify's and its plugins' own error codes, folded into ours. */
const CODE_BY_FASTIFY_CODE: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_VALIDATION: 'invalid_request',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'unsupported_media_type',
  FST_REQ_FILE_TOO_LARGE: 'payload_too_large',
  FST_PARTS_LIMIT: 'payload_too_large',
  FST_FILES_LIMIT: 'payload_too_large',
  FST_FIELDS_LIMIT: 'payload_too_large',
  FST_PROTO_VIOLATION: 'invalid_request',
  FST_ERR_RATE_LIMIT: 'rate_limited',
};

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export function statusForCode(code: ErrorCode): number {
  return STATUS_BY_CODE[code];
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    lingerOnRefusal(request.raw);
    reply
      .code(404)
      .send({ code: 'not_found', message: `no route for ${request.method} ${request.url.split('?')[0]}` });
  });

  app.setErrorHandler((error: FastifyError | ScanGateError, request, reply) => {
    const body = toErrorBody(error);
    const status = statusForCode(body.code);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: body.code, reason: body.message }, 'request refused');
    if (body.code === 'rate_limited' && !reply.hasHeader('retry-after')) reply.header('retry-after', '60');
    // Pending jobs finish within seconds to minutes; a client told nothing would retry at once.
    if (body.code === 'quota_exceeded' && !reply.hasHeader('retry-after')) reply.header('retry-after', '5');
    lingerOnRefusal(request.raw);
    reply.code(status).send(body);
  });
}

export function toErrorBody(error: unknown): ErrorBody {
  if (isScanGateError(error)) {
    return error.details
      ? { code: error.code, message: error.message, details: error.details }
      : { code: error.code, message: error.message };
  }
  const fastifyError = error as FastifyError;
  const mapped = fastifyError.code ? CODE_BY_FASTIFY_CODE[fastifyError.code] : undefined;
  if (mapped) return { code: mapped, message: fastifyError.message };
  if (fastifyError.validation) return { code: 'invalid_request', message: fastifyError.message };
  const status = fastifyError.statusCode;
  if (status === 413) return { code: 'payload_too_large', message: fastifyError.message };
  if (status === 415) return { code: 'unsupported_media_type', message: fastifyError.message };
  if (status !== undefined && status >= 400 && status < 500)
    return { code: 'invalid_request', message: fastifyError.message };
  // Unknown failures never leak their message (paths, stack) to the client.
  return { code: 'internal_error', message: 'internal error' };
}

export function notFound(what: string): ScanGateError {
  return new ScanGateError('not_found', `${what} not found`);
}

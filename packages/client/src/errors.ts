/**
 * Every failure of a client call: `status` is the HTTP status (0 when no answer arrived) and
 * `code` scangate's stable error code (`unauthorized`, `not_found`, `duplicate_trace_id`, …), or
 * `connection_failed` / `timeout` / `unexpected_response` for failures on the client's side.
 */
export class ScangateApiError extends Error {
  override name = 'ScangateApiError';
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = status;
    this.code = code;
    this.details = options.details;
  }
}

interface ErrorBody {
  code?: unknown;
  message?: unknown;
  details?: unknown;
}

/** Builds the error from a non-2xx response, reading scangate's `{code, message}` body when present. */
export async function errorFromResponse(response: Response): Promise<ScangateApiError> {
  let body: ErrorBody | undefined;
  const text = await response.text().catch(() => '');
  try {
    body = JSON.parse(text) as ErrorBody;
  } catch {
    body = undefined;
  }
  const code = typeof body?.code === 'string' ? body.code : `http_${response.status}`;
  const message =
    typeof body?.message === 'string'
      ? body.message
      : `HTTP ${response.status} ${response.statusText}`.trim();
  const details =
    body?.details && typeof body.details === 'object' ? (body.details as Record<string, unknown>) : undefined;
  return new ScangateApiError(response.status, code, message, details ? { details } : {});
}

import type { AddressPolicy } from '../egress/address-policy.ts';
import { parseDestinationUrl, parseHttpUrl } from '../egress/destination-url.ts';
import { validateCallbackHeaders, validateDownloadHeaders } from '../egress/header-rules.ts';
import { ScanGateError } from '../errors.ts';
import type { CallbackTarget, ScanSource } from '../scan.ts';

const MAX_CUSTOM_DATA_BYTES = 16 * 1024;
/** A lone UTF-16 surrogate: JSON can carry one (`"\ud800"`), UTF-8 storage cannot. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Refuses text that is not well-formed Unicode. Stored as UTF-8, a lone surrogate becomes U+FFFD,
 * so two different trace ids would silently become one.
 */
export function wellFormedText(value: string | undefined, field: string): void {
  if (value !== undefined && LONE_SURROGATE.test(value))
    throw invalid(`${field} contains a lone UTF-16 surrogate (not well-formed Unicode)`, field);
}

function invalid(message: string, field: string): ScanGateError {
  return new ScanGateError('invalid_request', message, { details: { field } });
}

/** A download URL as submitted: the shared syntax rule (the address is judged when it is fetched). */
export function httpUrl(value: string, field: string): string {
  return parseHttpUrl(value.trim(), field).href;
}

/** A URL source from a request: the download headers and the URL's syntax checked, in that order. */
export function urlSource(
  url: string,
  headers: Record<string, string> | undefined,
  field: string,
): Extract<ScanSource, { kind: 'url' }> {
  const checked = downloadHeaders(headers);
  return { kind: 'url', url: httpUrl(url, field), ...(checked ? { headers: checked } : {}) };
}

/** An S3 source from a request body; an empty version means the current one. */
export function s3Source(body: {
  bucket: string;
  key: string;
  version?: string;
}): Extract<ScanSource, { kind: 's3' }> {
  const { bucket, key, version } = body;
  return { kind: 's3', bucket, key, ...(version ? { version } : {}) };
}

export function customData(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Buffer.byteLength(value, 'utf8') > MAX_CUSTOM_DATA_BYTES)
    throw invalid('custom_data exceeds 16 KB of UTF-8', 'custom_data');
  return value;
}

export function downloadHeaders(
  headers: Record<string, string> | undefined,
): Record<string, string> | undefined {
  return headers === undefined ? undefined : validateDownloadHeaders(headers);
}

export interface AsyncFields {
  callback_url?: string;
  callback_headers?: Record<string, string>;
  trace_id?: string;
  custom_data?: string;
}

export interface ValidatedAsyncFields {
  traceId?: string;
  callback?: CallbackTarget;
  customData?: string;
}

/** bucketAV's rule: without a callback the result can only be polled, which needs a trace_id. */
export function asyncFields(
  body: AsyncFields,
  requireTraceOrCallback: boolean,
  destinations: AddressPolicy,
): ValidatedAsyncFields {
  if (requireTraceOrCallback && !body.callback_url && !body.trace_id)
    throw invalid('trace_id is required unless callback_url is set', 'trace_id');
  if (body.callback_headers && !body.callback_url)
    throw invalid('callback_headers need a callback_url', 'callback_headers');
  // Form fields skip the JSON schemas: the same bounds are checked here for every dialect.
  if (body.trace_id !== undefined && (body.trace_id.length === 0 || body.trace_id.length > 256))
    throw invalid('trace_id must be 1 to 256 characters', 'trace_id');
  if (body.callback_url !== undefined && body.callback_url.length > 2048)
    throw invalid('callback_url must be at most 2048 characters', 'callback_url');
  wellFormedText(body.trace_id, 'trace_id');
  wellFormedText(body.custom_data, 'custom_data');
  wellFormedText(body.callback_url, 'callback_url');
  const fields: ValidatedAsyncFields = {};
  if (body.trace_id !== undefined) fields.traceId = body.trace_id;
  const data = customData(body.custom_data);
  if (data !== undefined) fields.customData = data;
  if (body.callback_url) {
    fields.callback = {
      // A callback to a refused address could never be delivered: say so now (400), not a day later.
      url: parseDestinationUrl(body.callback_url.trim(), destinations, 'callback_url').href,
      headers: validateCallbackHeaders(body.callback_headers ?? {}),
    };
  }
  return fields;
}

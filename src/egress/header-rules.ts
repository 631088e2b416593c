import { ScanGateError } from '../errors.ts';

const MAX_HEADERS = 20;
const MAX_TOTAL_BYTES = 8 * 1024;
/** RFC 9110 token: what a header field name may be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, space and tab: no CR/LF/NUL (header injection) and nothing undici would re-encode. */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/** Headers that frame or route the message: a client value would break or redirect the request. */
const HOP_AND_FRAMING = [
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  // Provenance headers a receiver may trust for access decisions.
  'forwarded',
  'via',
  'x-real-ip',
];
const HOP_AND_FRAMING_PREFIXES = ['proxy-', 'x-forwarded-'];

/** Callbacks: we own the body, its signature and our identity as the sender. */
const CALLBACK_DENIED = new Set([...HOP_AND_FRAMING, 'content-encoding', 'user-agent']);
/**
 * bucketAV: "Content-Type and Content-Length are always added and cannot be changed". Clients of
 * the vendor send them anyway, so they are dropped (our values win) rather than refused.
 */
const CALLBACK_IGNORED = new Set(['content-type', 'content-length']);
const CALLBACK_DENIED_PREFIXES = [...HOP_AND_FRAMING_PREFIXES, 'webhook-'];

/** Downloads: we need every byte as stored, undecoded. */
const DOWNLOAD_DENIED = new Set([...HOP_AND_FRAMING, 'accept-encoding', 'range', 'if-range']);
const DOWNLOAD_DENIED_PREFIXES = HOP_AND_FRAMING_PREFIXES;

/**
 * Checks client `callback_headers` at submit (and again before each delivery). Returns a clean
 * copy (names and values trimmed) or throws invalid_request naming the offending header.
 */
export function validateCallbackHeaders(headers: unknown): Record<string, string> {
  return validateHeaders(
    headers,
    'callback_headers',
    CALLBACK_DENIED,
    CALLBACK_DENIED_PREFIXES,
    CALLBACK_IGNORED,
  );
}

/** Same for `download_headers`, with the smaller deny list a GET needs. */
export function validateDownloadHeaders(headers: unknown): Record<string, string> {
  return validateHeaders(headers, 'download_headers', DOWNLOAD_DENIED, DOWNLOAD_DENIED_PREFIXES);
}

function validateHeaders(
  headers: unknown,
  field: string,
  denied: ReadonlySet<string>,
  deniedPrefixes: readonly string[],
  ignored: ReadonlySet<string> = new Set(),
): Record<string, string> {
  if (headers === undefined || headers === null) return {};
  if (typeof headers !== 'object' || Array.isArray(headers)) {
    throw invalid(field, undefined, `${field} must be an object of header names to string values`);
  }
  const entries = Object.entries(headers as Record<string, unknown>);
  if (entries.length > MAX_HEADERS)
    throw invalid(field, undefined, `${field} has more than ${MAX_HEADERS} headers`);
  const clean: Record<string, string> = {};
  const seen = new Set<string>();
  let totalBytes = 0;
  for (const [rawName, rawValue] of entries) {
    const name = rawName.trim();
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) throw invalid(field, rawName, `${field}: "${rawName}" is not a valid header name`);
    if (ignored.has(lower)) continue;
    if (denied.has(lower) || deniedPrefixes.some((prefix) => lower.startsWith(prefix))) {
      throw invalid(field, name, `${field}: header "${name}" cannot be set by the client`);
    }
    if (seen.has(lower)) throw invalid(field, name, `${field}: header "${name}" is given twice`);
    seen.add(lower);
    if (typeof rawValue !== 'string')
      throw invalid(field, name, `${field}: header "${name}" must be a string`);
    // Checked before trimming: a trailing CRLF is an injection attempt, not whitespace.
    if (!FIELD_VALUE.test(rawValue)) {
      throw invalid(
        field,
        name,
        `${field}: header "${name}" has a control or non-ASCII character in its value`,
      );
    }
    const value = rawValue.trim();
    totalBytes += name.length + value.length + 4; // ": " and CRLF on the wire
    if (totalBytes > MAX_TOTAL_BYTES) {
      throw invalid(field, name, `${field} exceed ${MAX_TOTAL_BYTES} bytes in total (at header "${name}")`);
    }
    clean[name] = value;
  }
  return clean;
}

function invalid(field: string, header: string | undefined, message: string): ScanGateError {
  return new ScanGateError('invalid_request', message, {
    details: header === undefined ? { field } : { field, header },
  });
}

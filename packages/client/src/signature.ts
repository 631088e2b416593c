import { createHmac, createVerify, timingSafeEqual } from 'node:crypto';

/** Incoming headers as `fetch` (`Headers`) or Node (`IncomingHttpHeaders`) hands them over. */
export type CallbackHeaders = Headers | Record<string, string | string[] | undefined>;

/**
 * How attachmentAV-dialect callbacks are verified: RSA-SHA256 over
 * `{x-timestamp}.{tenantId}.{callbackUrl}.{raw body}` with one of scangate's published keys.
 */
export interface AttachmentAvVerification {
  scheme: 'attachmentav';
  /** PEM public key(s) from GET /v1/callback/public-key(s); several during a key rotation. */
  publicKey: string | readonly string[];
  /** Your tenant id, as GET /v1/whoami answers it. */
  tenantId: string;
  /** The callback URL as scangate stored it (parsed: `https://host` is `https://host/`). */
  callbackUrl: string;
}

export interface VerifyOptions {
  /** Largest difference between the signature's timestamp and now (default 300 s): bounds replays. */
  toleranceSeconds?: number;
  nowSeconds?: number;
}

const SECRET_PREFIX = 'whsec_';

function header(headers: CallbackHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  // Node lower-cases incoming header names; other frameworks may not.
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

function recent(timestamp: string | undefined, options: VerifyOptions): boolean {
  if (!timestamp || !/^\d+$/.test(timestamp)) return false;
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  return Math.abs(now - Number(timestamp)) <= (options.toleranceSeconds ?? 300);
}

function verifyStandardWebhook(
  secret: string,
  headers: CallbackHeaders,
  rawBody: string | Uint8Array,
  options: VerifyOptions,
): boolean {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  // Standard Webhooks ids never contain "."; one that does cannot carry a valid signature.
  if (!id || id.includes('.') || !signatures || !recent(timestamp, options)) return false;
  const key = Buffer.from(
    secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret,
    'base64',
  );
  // A malformed secret throws: that is the receiver's configuration error, not a bad request.
  if (key.length < 24 || key.length > 64)
    throw new TypeError('secret must be whsec_ + base64 of 24 to 64 bytes');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(rawBody).digest();
  let matched = false;
  for (const entry of signatures.split(' ')) {
    const [version, encoded] = entry.split(',', 2);
    if (version !== 'v1' || !encoded) continue;
    const candidate = Buffer.from(encoded, 'base64');
    // Every entry is checked (no early exit) so timing does not tell which one matched.
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
  }
  return matched;
}

function verifyAttachmentAv(
  verification: AttachmentAvVerification,
  headers: CallbackHeaders,
  rawBody: string | Uint8Array,
  options: VerifyOptions,
): boolean {
  const timestamp = header(headers, 'x-timestamp');
  const signature = header(headers, 'x-signature');
  if (!signature || !recent(timestamp, options)) return false;
  const body = typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8');
  const signed = `${timestamp}.${verification.tenantId}.${verification.callbackUrl}.${body}`;
  const keys = typeof verification.publicKey === 'string' ? [verification.publicKey] : verification.publicKey;
  return keys.some((key) => createVerify('sha256').update(signed).verify(key, signature, 'base64'));
}

/**
 * True when a callback really comes from scangate, checked over `rawBody` — the exact bytes
 * received, not re-serialised JSON — with a timestamp within `toleranceSeconds` of now.
 *
 * - Standard Webhooks (every dialect): pass the tenant's `whsec_…` secret (GET /v1/webhook-secret);
 *   dedupe deliveries on the `webhook-id` header.
 * - attachmentAV dialect: pass `{ scheme: 'attachmentav', publicKey, tenantId, callbackUrl }`.
 */
export function verifyCallbackSignature(
  secretOrVerification: string | AttachmentAvVerification,
  headers: CallbackHeaders,
  rawBody: string | Uint8Array,
  options: VerifyOptions = {},
): boolean {
  return typeof secretOrVerification === 'string'
    ? verifyStandardWebhook(secretOrVerification, headers, rawBody, options)
    : verifyAttachmentAv(secretOrVerification, headers, rawBody, options);
}

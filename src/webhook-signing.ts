import { createHmac, randomBytes } from 'node:crypto';
import { ScanGateError } from './errors.ts';

/**
 * Standard Webhooks 1.0 signatures: `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`
 * over the exact bytes sent, with a `whsec_`-prefixed base64 secret. This is the sender's side;
 * receivers (and our own tests) verify with the client package's `verifyCallbackSignature`.
 */
const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;
/** The spec's floor (192 bits) and ceiling (512 bits) for HMAC keys. */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** The `webhook-signature` header value for one attempt. */
export function signWebhook(
  secret: string,
  msgId: string,
  timestampSeconds: number,
  body: string | Buffer,
): string {
  return `v1,${computeSignature(secretKey(secret), msgId, timestampSeconds, body).toString('base64')}`;
}

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** The three Standard Webhooks headers for one attempt (the timestamp is per attempt). */
export function webhookHeaders(
  secret: string,
  msgId: string,
  body: string | Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
): WebhookHeaders {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(nowSeconds),
    'webhook-signature': signWebhook(secret, msgId, nowSeconds, body),
  };
}

function computeSignature(
  key: Buffer,
  msgId: string,
  timestampSeconds: number,
  body: string | Buffer,
): Buffer {
  if (msgId.includes('.')) throw new ScanGateError('internal_error', 'webhook-id must not contain "."');
  return createHmac('sha256', key).update(`${msgId}.${timestampSeconds}.`).update(body).digest();
}

function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
    throw new ScanGateError('internal_error', 'webhook secret must be whsec_ + base64 of 24 to 64 bytes');
  }
  return key;
}

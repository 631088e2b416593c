import { verifyWebhook } from '../webhook-signing.ts';

export type CallbackHeaders = Headers | Record<string, string | string[] | undefined>;

const SIGNED_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

function headerRecord(headers: CallbackHeaders): Record<string, string | undefined> {
  const record: Record<string, string | undefined> = {};
  if (typeof (headers as Headers).get === 'function') {
    for (const name of SIGNED_HEADERS) record[name] = (headers as Headers).get(name) ?? undefined;
    return record;
  }
  const plain = headers as Record<string, string | string[] | undefined>;
  // Node lower-cases incoming header names; other frameworks may not.
  for (const [name, value] of Object.entries(plain)) {
    const lower = name.toLowerCase();
    if ((SIGNED_HEADERS as readonly string[]).includes(lower))
      record[lower] = Array.isArray(value) ? value[0] : value;
  }
  return record;
}

/**
 * True when a callback really comes from scangate: one of its Standard Webhooks `v1` signatures
 * matches `rawBody` (the exact bytes received — not re-serialised JSON) under `secret` (the
 * tenant's `whsec_…` from GET /v1/webhook-secret), and its timestamp is within `toleranceSeconds`
 * of now, which bounds replays. Dedupe deliveries on the `webhook-id` header.
 */
export function verifyCallbackSignature(
  secret: string,
  headers: CallbackHeaders,
  rawBody: string | Buffer,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): boolean {
  const signed = headerRecord(headers);
  // Standard Webhooks ids never contain "."; one that does cannot carry a valid signature.
  if (signed['webhook-id']?.includes('.')) return false;
  // A malformed secret throws: that is the receiver's configuration error, not a bad request.
  return verifyWebhook(secret, signed, rawBody, options.toleranceSeconds, options.nowSeconds);
}

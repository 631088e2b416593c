import {
  createHash,
  createPublicKey,
  createSign,
  createVerify,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';

/**
 * attachmentAV's callback signature: `x-timestamp` (Unix seconds) and `x-signature`, the base64
 * RSA-SHA256 (PKCS#1 v1.5) signature of `{timestamp}.{tenantId}.{callback_url}.{body}` over the
 * exact bytes sent. The tenant and URL are inside the signed text, so a callback captured for one
 * receiver cannot be replayed to another.
 */
export function attachmentAvSignedText(
  timestamp: string,
  tenantId: string,
  callbackUrl: string,
  body: string,
): string {
  return `${timestamp}.${tenantId}.${callbackUrl}.${body}`;
}

// A type, not an interface: it must fit a plain header record (interfaces have no index signature).
export type AttachmentAvHeaders = {
  'x-timestamp': string;
  'x-signature': string;
};

export function attachmentAvHeaders(
  privateKey: KeyObject,
  tenantId: string,
  callbackUrl: string,
  body: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): AttachmentAvHeaders {
  const timestamp = String(nowSeconds);
  const signer = createSign('sha256');
  signer.update(attachmentAvSignedText(timestamp, tenantId, callbackUrl, body));
  return { 'x-timestamp': timestamp, 'x-signature': signer.sign(privateKey, 'base64') };
}

/** Receiver side: true when one of the public keys verifies the signature and the time is recent. */
export function verifyAttachmentAv(
  publicKeys: readonly (string | KeyObject)[],
  headers: Record<string, string | string[] | undefined>,
  tenantId: string,
  callbackUrl: string,
  body: string,
  toleranceSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  const timestamp = single(headers['x-timestamp']);
  const signature = single(headers['x-signature']);
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const text = attachmentAvSignedText(timestamp, tenantId, callbackUrl, body);
  return publicKeys.some((key) => createVerify('sha256').update(text).verify(key, signature, 'base64'));
}

/**
 * A new signing key, PEM (PKCS#8). 2048 bits (NIST: acceptable through 2030) keeps the first start
 * fast (~70 ms here against ~0.9 s for 3072); an operator who wants more brings CALLBACK_RSA_KEY_FILE.
 */
export function generateCallbackSigningKey(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
}

export interface PublishedPublicKey {
  /** First 16 hex digits of the SHA-256 of the key's DER (SPKI): tells keys apart across a rotation. */
  id: string;
  pem: string;
  /** The key signing callbacks now; the others are older keys kept published during a rotation. */
  current: boolean;
}

export function publishedPublicKey(key: KeyObject, current: boolean): PublishedPublicKey {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return {
    id: createHash('sha256').update(der).digest('hex').slice(0, 16),
    pem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    current,
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

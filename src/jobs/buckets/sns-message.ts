import { createVerify, X509Certificate } from 'node:crypto';
import { ScanGateError } from '../../errors.ts';

/** The SNS HTTP(S) message types scangate handles; anything else is refused. */
export type SnsMessageType = 'SubscriptionConfirmation' | 'UnsubscribeConfirmation' | 'Notification';

/** An SNS message as SNS POSTs it to an HTTP(S) subscriber, with the fields its signature covers. */
export interface SnsMessage {
  Type: SnsMessageType;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: '1' | '2';
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
}

const SNS_TYPES = new Set<string>(['SubscriptionConfirmation', 'UnsubscribeConfirmation', 'Notification']);

/** An SNS envelope (a body with an SNS `Type` and a `TopicArn`), as opposed to a bare S3 event. */
export function isSnsEnvelope(body: unknown): body is Record<string, unknown> {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as Record<string, unknown>).Type === 'string' &&
    typeof (body as Record<string, unknown>).TopicArn === 'string'
  );
}

/** Checks the fields a signed SNS message must carry; throws invalid_request naming the first missing. */
export function parseSnsMessage(body: Record<string, unknown>): SnsMessage {
  const type = String(body.Type);
  if (!SNS_TYPES.has(type))
    throw new ScanGateError('invalid_request', `SNS message type "${type}" is not handled`);
  const required = [
    'MessageId',
    'TopicArn',
    'Message',
    'Timestamp',
    'SignatureVersion',
    'Signature',
    'SigningCertURL',
  ];
  if (type !== 'Notification') required.push('SubscribeURL', 'Token');
  for (const field of required) {
    if (typeof body[field] !== 'string' || body[field] === '')
      throw new ScanGateError('invalid_request', `the SNS ${type} message has no ${field}`);
  }
  if (body.SignatureVersion !== '1' && body.SignatureVersion !== '2') {
    throw new ScanGateError(
      'invalid_request',
      `SNS SignatureVersion "${String(body.SignatureVersion)}" is not 1 or 2`,
    );
  }
  return body as unknown as SnsMessage;
}

/**
 * The string SNS signs (AWS, "Verifying the signatures of Amazon SNS messages"): `name\nvalue\n`
 * for each field in this order, Subject only when present; confirmations sign SubscribeURL and Token.
 */
export function snsStringToSign(message: SnsMessage): string {
  const fields =
    message.Type === 'Notification'
      ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type']
      : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  let text = '';
  for (const field of fields) {
    const value = message[field as keyof SnsMessage];
    if (value === undefined) continue;
    text += `${field}\n${value}\n`;
  }
  return text;
}

/** SNS's own endpoints: https on sns.<region>.amazonaws.com (or .amazonaws.com.cn in China). */
const AWS_SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/**
 * Whether a URL in an SNS message (SigningCertURL, SubscribeURL) may be fetched: https on an SNS
 * host, or under a prefix the operator allowed explicitly (an SNS-compatible service, a test server).
 */
export function isTrustedSnsUrl(raw: string, extraPrefixes: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === 'https:' && AWS_SNS_HOST.test(url.hostname) && (url.port === '' || url.port === '443'))
    return true;
  return extraPrefixes.some((prefix) => prefix.length > 0 && url.href.startsWith(prefix));
}

/** Verifies the message's signature with the signing certificate (PEM): SHA1withRSA (1) or SHA256withRSA (2). */
export function verifySnsSignature(message: SnsMessage, certificatePem: string): boolean {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch {
    return false;
  }
  const now = Date.now();
  if (Date.parse(certificate.validFrom) > now || Date.parse(certificate.validTo) < now) return false;
  const verifier = createVerify(message.SignatureVersion === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  verifier.update(snsStringToSign(message), 'utf8');
  try {
    return verifier.verify(certificate.publicKey, message.Signature, 'base64');
  } catch {
    return false;
  }
}

import { ScanGateError } from '../../errors.ts';

/** One object-created notification, whatever envelope it came in. */
export interface ObjectCreatedEvent {
  bucket: string;
  key: string;
  versionId?: string;
  etag?: string;
  size: number;
  /** S3's per-key ordering token: two deliveries of one event carry the same one. */
  sequencer?: string;
}

export interface ParsedNotification {
  created: ObjectCreatedEvent[];
  /** Records that are not object creations (removals, test events), counted and ignored. */
  ignored: number;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** S3 event keys are URL-encoded form-style: `+` is a space, `%2B` a plus. */
export function decodeS3EventKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded.replaceAll('+', ' '));
  } catch {
    throw new ScanGateError('invalid_request', `object key "${encoded}" is not URL-encoded`);
  }
}

function created(
  bucket: unknown,
  key: string | undefined,
  object: Json,
  fields: { version: string; etag: string },
): ObjectCreatedEvent {
  const name = text(bucket);
  if (!name || key === undefined)
    throw new ScanGateError('invalid_request', 'an event record has no bucket or key');
  const event: ObjectCreatedEvent = { bucket: name, key, size: Number(object.size ?? 0) || 0 };
  const versionId = text(object[fields.version]);
  // "null" is how S3 names the version of an object written while versioning was off.
  if (versionId && versionId !== 'null') event.versionId = versionId;
  const etag = text(object[fields.etag]);
  if (etag) event.etag = etag.replaceAll('"', '');
  const sequencer = text(object.sequencer);
  if (sequencer) event.sequencer = sequencer;
  return event;
}

/** `{Records: [...]}` as S3 sends to SQS/SNS/Lambda and MinIO and Ceph send to webhooks. */
function fromRecords(records: unknown[], result: ParsedNotification): void {
  for (const record of records) {
    if (!isObject(record) || !isObject(record.s3))
      throw new ScanGateError('invalid_request', 'an event record has no s3 part');
    const eventName = text(record.eventName) ?? '';
    if (!/ObjectCreated:/.test(eventName)) {
      result.ignored++;
      continue;
    }
    const { bucket, object } = record.s3;
    if (!isObject(bucket) || !isObject(object) || typeof object.key !== 'string') {
      throw new ScanGateError('invalid_request', 'an event record has no s3.bucket.name or s3.object.key');
    }
    result.created.push(
      created(bucket.name, decodeS3EventKey(object.key), object, { version: 'versionId', etag: 'eTag' }),
    );
  }
}

function parseInto(body: unknown, result: ParsedNotification, depth: number): void {
  if (depth > 3) throw new ScanGateError('invalid_request', 'event envelopes nested too deep');
  if (Array.isArray(body)) {
    for (const entry of body) parseInto(entry, result, depth + 1);
    return;
  }
  if (!isObject(body))
    throw new ScanGateError('invalid_request', 'an event notification must be a JSON object');
  if (Array.isArray(body.Records)) {
    fromRecords(body.Records, result);
    return;
  }
  // SNS wraps the S3 event as a JSON string in Message; an SQS relay may pass the SNS envelope on.
  const wrapped =
    typeof body.Message === 'string' ? body.Message : typeof body.Body === 'string' ? body.Body : undefined;
  if (wrapped !== undefined) {
    parseInto(parseJson(wrapped), result, depth + 1);
    return;
  }
  // EventBridge: detail-type "Object Created", detail.object.key not URL-encoded.
  if (body.source === 'aws.s3' && isObject(body.detail)) {
    const { bucket, object } = body.detail;
    if (body['detail-type'] !== 'Object Created') {
      result.ignored++;
      return;
    }
    if (!isObject(bucket) || !isObject(object) || typeof object.key !== 'string') {
      throw new ScanGateError(
        'invalid_request',
        'an EventBridge event has no detail.bucket.name or detail.object.key',
      );
    }
    result.created.push(created(bucket.name, object.key, object, { version: 'version-id', etag: 'etag' }));
    return;
  }
  // s3:TestEvent (sent when notifications are configured) and SNS subscription messages carry no object.
  if (body.Event === 's3:TestEvent' || typeof body.Type === 'string') {
    result.ignored++;
    return;
  }
  throw new ScanGateError(
    'invalid_request',
    'not an S3 event notification (no Records, Message or EventBridge detail)',
  );
}

function parseJson(textValue: string): unknown {
  try {
    return JSON.parse(textValue);
  } catch {
    throw new ScanGateError('invalid_request', 'an envelope holds a message that is not JSON');
  }
}

/** Reads every object-created record out of any of the supported notification shapes. */
export function parseS3Notification(body: unknown): ParsedNotification {
  const result: ParsedNotification = { created: [], ignored: 0 };
  parseInto(body, result, 0);
  return result;
}

/** Two deliveries of the same event are one sighting: bucket is implied by the scan. */
export function eventDedupeKey(event: ObjectCreatedEvent): string {
  // JSON: unambiguous whatever the key holds (PostgreSQL text cannot hold a NUL separator).
  return JSON.stringify([event.key, event.versionId ?? '', event.sequencer ?? event.etag ?? '']);
}

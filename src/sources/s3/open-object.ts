import { Readable } from 'node:stream';
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { isScanGateError, ScanGateError } from '../../errors.ts';
import type { ServedS3Object } from '../../scan.ts';
import { ByteLimit } from '../byte-limit.ts';
import { decodeContent, parseContentEncoding } from '../content-encoding.ts';
import type { OpenedSource } from '../source.ts';
import { classifyS3Error, type S3ObjectRef } from './errors.ts';

export interface OpenedS3Object extends OpenedSource {
  /** The version actually served (when the bucket is versioned); a retry can pin to it. */
  versionId?: string;
  etag?: string;
}

export interface OpenS3ObjectOptions {
  maxBytes: number;
  signal?: AbortSignal;
}

function abortError(signal: AbortSignal, ref: S3ObjectRef): ScanGateError {
  const reason: unknown = signal.reason;
  if (isScanGateError(reason)) return reason;
  return new ScanGateError('download_failed', `reading s3://${ref.bucket}/${ref.key} was aborted`, {
    retryable: true,
    cause: reason,
  });
}

/**
 * Opens one S3 object as a stream of its bytes (never buffered). A single GetObject serves one
 * consistent version, so the bytes scanned are exactly one object's. Over maxBytes is refused
 * before reading when S3 announces the size, and enforced again while streaming; a body that
 * ends short of its ContentLength fails (retryable) instead of ending like a whole object.
 */
export async function openS3Object(
  client: S3Client,
  object: S3ObjectRef,
  options: OpenS3ObjectOptions,
): Promise<OpenedS3Object> {
  const { maxBytes, signal } = options;
  if (signal?.aborted) throw abortError(signal, object);
  const command = new GetObjectCommand({ Bucket: object.bucket, Key: object.key, VersionId: object.version });
  let response: GetObjectCommandOutput;
  try {
    response = await client.send(command, { abortSignal: signal });
  } catch (error) {
    throw signal?.aborted ? abortError(signal, object) : classifyS3Error(error, object);
  }
  const {
    Body: body,
    ContentLength: declaredSize,
    VersionId: versionId,
    ETag: etag,
    TagCount: tagCount,
  } = response;
  let codings: string[];
  try {
    // An object stored with a Content-Encoding is scanned decoded, as its readers will see it.
    codings = parseContentEncoding(response.ContentEncoding);
  } catch (error) {
    if (body instanceof Readable) body.destroy();
    throw error;
  }
  if (!(body instanceof Readable)) {
    throw new ScanGateError('download_failed', `S3 returned no readable body for ${object.key}`, {
      retryable: true,
    });
  }
  if (declaredSize !== undefined && declaredSize > maxBytes) {
    body.destroy();
    throw new ScanGateError('size_limit', `object is ${declaredSize} bytes, the limit is ${maxBytes}`, {
      details: { size: declaredSize, maxBytes },
    });
  }

  const stream = new ByteLimit({
    maxBytes,
    tooLarge: (limit) =>
      new ScanGateError('size_limit', `object is larger than the limit of ${limit} bytes`, {
        details: { maxBytes: limit },
      }),
    expectedBytes: declaredSize,
    sizeMismatch: (received, expected) =>
      new ScanGateError('download_failed', `S3 body ended after ${received} of ${expected} bytes`, {
        retryable: true,
        details: { received, expected },
      }),
  });
  const onAbort = (): void => {
    stream.destroy(abortError(signal!, object));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  body.on('error', (error) => {
    stream.destroy(signal?.aborted ? abortError(signal, object) : classifyS3Error(error, object));
  });
  // Whoever stops reading (consumer error, limit, abort) must also release the S3 connection.
  stream.on('close', () => {
    signal?.removeEventListener('abort', onAbort);
    body.destroy();
  });
  body.pipe(stream);

  const opened: OpenedS3Object = {
    stream: codings.length > 0 ? decodeContent(stream, codings, maxBytes) : stream,
  };
  if (declaredSize !== undefined && codings.length === 0) opened.declaredSize = declaredSize;
  if (versionId) opened.versionId = versionId;
  if (etag) opened.etag = etag;
  const served: ServedS3Object = {};
  // Only a count S3 stated: AWS omits the header without s3:GetObjectTagging, and stores like
  // s3rver never send it, so a missing header does not mean "no tags".
  if (tagCount !== undefined) served.tagCount = tagCount;
  if (etag) served.etag = etag.replaceAll('"', '');
  if (versionId && versionId !== 'null') served.versionId = versionId;
  opened.s3Object = served;
  return opened;
}

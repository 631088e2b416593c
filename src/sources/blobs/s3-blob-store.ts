import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { isScanGateError, ScanGateError } from '../../errors.ts';
import { openS3Object } from '../s3/open-object.ts';
import { assertBlobKey, isBlobKey, stagingLimit } from './blob-key.ts';
import type { BlobStore, StagedBlob } from './blob-store.ts';

/** S3's smallest part. With one part in flight, one upload holds about two parts in memory. */
const PART_SIZE = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT = 1;

function storeUnavailable(action: string, error: unknown): ScanGateError {
  if (isScanGateError(error)) return error;
  const name = (error as { name?: unknown } | undefined)?.name;
  return new ScanGateError('store_unavailable', `blob bucket: ${action} failed (${String(name)})`, {
    retryable: true,
    cause: error,
  });
}

/**
 * Staged uploads as objects under `<prefix><key>` in one bucket, for API and worker nodes that
 * share no disk. Uploads stream through a multipart upload with bounded memory; a put that fails
 * (over the limit, empty, client gone, S3 error) aborts the upload and deletes whatever landed.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  readonly #client: S3Client;
  readonly bucket: string;
  readonly prefix: string;

  constructor(client: S3Client, bucket: string, prefix: string) {
    this.#client = client;
    this.bucket = bucket;
    this.prefix = prefix;
  }

  async init(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      throw new ScanGateError('store_unavailable', `blob bucket ${this.bucket} is not usable`, {
        cause: error,
      });
    }
  }

  async put(
    key: string,
    input: Readable,
    options: { maxBytes: number; allowEmpty?: boolean },
  ): Promise<StagedBlob> {
    assertBlobKey(key);
    const objectKey = this.#objectKey(key);
    const limit = stagingLimit(options);
    input.on('error', (error) => limit.destroy(error));
    limit.on('close', () => {
      if (!input.readableEnded) input.destroy();
    });
    input.pipe(limit);
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.bucket, Key: objectKey, Body: limit },
      partSize: PART_SIZE,
      queueSize: PARTS_IN_FLIGHT,
    });
    try {
      await upload.done();
    } catch (error) {
      // The stream's own error (limit, empty, input) is the reason; the SDK may report a later one,
      // such as a failed AbortMultipartUpload.
      const streamError = limit.errored;
      limit.destroy();
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey })).catch(() => {
        // Best effort: the upload was aborted; the orphan sweep removes anything left.
      });
      throw streamError ?? storeUnavailable('upload', error);
    }
    return { key, size: limit.bytes, sha256: limit.sha256() };
  }

  async open(key: string): Promise<Readable> {
    assertBlobKey(key);
    const opened = await openS3Object(
      this.#client,
      { bucket: this.bucket, key: this.#objectKey(key) },
      { maxBytes: Number.MAX_SAFE_INTEGER },
    );
    return opened.stream;
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#objectKey(key) }));
    } catch (error) {
      throw storeUnavailable('delete', error);
    }
  }

  async list(): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
        );
        for (const object of page.Contents ?? []) {
          const key = object.Key?.slice(this.prefix.length);
          if (key !== undefined && isBlobKey(key)) keys.push(key);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw storeUnavailable('list', error);
    }
    return keys.sort();
  }

  #objectKey(key: string): string {
    return `${this.prefix}${key}`;
  }
}

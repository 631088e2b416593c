import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { BucketActionRecord } from '../../bucket-scan.ts';
import { ScanGateError } from '../../errors.ts';
import { classifyS3Error } from '../../sources/s3/errors.ts';
import { MAX_OBJECT_TAGS, mergeTags, type ObjectTag, sameTagSet } from './tags.ts';

export interface ObjectRef {
  bucket: string;
  key: string;
  versionId?: string;
}

export interface ObjectHead {
  etag?: string;
  versionId?: string;
}

/** How many times a tag write is redone because another writer changed the tags meanwhile. */
const TAG_WRITE_ATTEMPTS = 4;

function record(action: BucketActionRecord['action'], ok: boolean, detail: string): BucketActionRecord {
  return { action, ok, at: new Date().toISOString(), detail };
}

/** A failure S3 may get over (throttling, 5xx, network) is thrown: the object is settled later. */
function failedOrThrow(
  action: BucketActionRecord['action'],
  error: unknown,
  ref: ObjectRef,
): BucketActionRecord {
  const classified = classifyS3Error(error, { bucket: ref.bucket, key: ref.key, version: ref.versionId });
  if (classified.retryable) throw classified;
  return record(action, false, `${classified.code}: ${classified.message}`);
}

function stripQuotes(etag: string | undefined): string | undefined {
  return etag?.replaceAll('"', '');
}

/**
 * The S3 side of a verdict: check the object is the one scanned, tag it, delete or quarantine it.
 * Every call names the bucket explicitly; which buckets a tenant may touch is decided before.
 */
export class ObjectActions {
  readonly #s3: S3Client;

  constructor(s3: S3Client) {
    this.#s3 = s3;
  }

  /** The object's current ETag and version, or undefined when it no longer exists. */
  async head(ref: ObjectRef): Promise<ObjectHead | undefined> {
    try {
      const head = await this.#s3.send(
        new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
      );
      const result: ObjectHead = {};
      const etag = stripQuotes(head.ETag);
      if (etag) result.etag = etag;
      if (head.VersionId && head.VersionId !== 'null') result.versionId = head.VersionId;
      return result;
    } catch (error) {
      const classified = classifyS3Error(error, { bucket: ref.bucket, key: ref.key, version: ref.versionId });
      if (classified.code === 'object_not_found') return undefined;
      throw classified;
    }
  }

  /**
   * Read-modify-write of the object's tags that keeps every tag but ours. S3 has no conditional
   * tag write, so the write is read back: when another writer replaced the tags between our write
   * and the read-back, their tags are merged with ours and written again. (A writer whose change
   * lands between our read and our write is overwritten unseen; S3 offers no way to detect that.)
   */
  async tag(
    ref: ObjectRef,
    ours: ObjectTag[],
    owned: readonly string[],
    /** The tags the object is known to carry (none, as its GetObject said): the first read is skipped. */
    known?: readonly ObjectTag[],
  ): Promise<BucketActionRecord> {
    const target = { Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId };
    try {
      let current = known ?? (await this.#s3.send(new GetObjectTaggingCommand(target))).TagSet ?? [];
      for (let attempt = 1; attempt <= TAG_WRITE_ATTEMPTS; attempt++) {
        const desired = mergeTags(current as ObjectTag[], ours, owned);
        if (desired.length > MAX_OBJECT_TAGS) {
          return record(
            'tag',
            false,
            `tag_limit: the object already has ${desired.length - ours.length} other tags`,
          );
        }
        await this.#s3.send(new PutObjectTaggingCommand({ ...target, Tagging: { TagSet: desired } }));
        current = (await this.#s3.send(new GetObjectTaggingCommand(target))).TagSet ?? [];
        if (sameTagSet(current as ObjectTag[], desired)) {
          const written = ours.map((tag) => `${tag.Key}=${tag.Value}`).join(' ');
          return record('tag', true, attempt > 1 ? `${written} (after ${attempt} writes)` : written);
        }
      }
      return record('tag', false, 'tag_conflict: other writers kept changing the tags');
    } catch (error) {
      const classified = classifyS3Error(error, { bucket: ref.bucket, key: ref.key, version: ref.versionId });
      if (classified.code === 'object_not_found') {
        return record('skip', true, 'object_gone: deleted before its verdict was applied');
      }
      return failedOrThrow('tag', error, ref);
    }
  }

  async delete(ref: ObjectRef): Promise<BucketActionRecord> {
    try {
      await this.#s3.send(
        new DeleteObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
      );
      return record('delete', true, `deleted s3://${ref.bucket}/${ref.key}`);
    } catch (error) {
      return failedOrThrow('delete', error, ref);
    }
  }

  /**
   * Copies the object to the quarantine location (with the verdict's tags), then deletes the original. The
   * delete happens only after the copy succeeded, so a failure loses nothing. Redone after a crash
   * between the two, the copy finds the original gone and the quarantined copy in place.
   */
  async quarantine(
    ref: ObjectRef,
    to: { bucket: string; prefix: string },
    verdictTags?: { tags: ObjectTag[]; owned: readonly string[] },
  ): Promise<BucketActionRecord> {
    const destination = { bucket: to.bucket, key: `${to.prefix}${ref.key}` };
    const where = `s3://${destination.bucket}/${destination.key}`;
    const source = `${ref.bucket}/${encodeURIComponent(ref.key).replaceAll('%2F', '/')}${
      ref.versionId ? `?versionId=${encodeURIComponent(ref.versionId)}` : ''
    }`;
    try {
      await this.#s3.send(
        new CopyObjectCommand({ Bucket: destination.bucket, Key: destination.key, CopySource: source }),
      );
    } catch (error) {
      const classified = classifyS3Error(error, { bucket: ref.bucket, key: ref.key, version: ref.versionId });
      const alreadyMoved =
        classified.code === 'object_not_found' && (await this.head(destination)) !== undefined;
      if (!alreadyMoved) return failedOrThrow('quarantine', error, ref);
    }
    // Stores differ in whether a copy keeps the source's tags (s3rver does not): tagged again.
    if (verdictTags) await this.tag(destination, verdictTags.tags, verdictTags.owned);
    const deleted = await this.delete(ref);
    if (!deleted.ok)
      return record('quarantine', false, `copied to ${where} but not deleted: ${deleted.detail}`);
    return record('quarantine', true, `moved to ${where}`);
  }
}

export function isRetryableS3Failure(error: unknown): boolean {
  return error instanceof ScanGateError && error.retryable;
}

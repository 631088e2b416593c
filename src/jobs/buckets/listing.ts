import {
  GetBucketVersioningCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { classifyS3Error } from '../../sources/s3/errors.ts';

/** One current object as a listing page showed it. */
export interface ListedEntry {
  key: string;
  /** Set when the bucket is versioned: the version the scan job will read, exactly. */
  versionId?: string;
  etag?: string;
  size: number;
  lastModified?: Date;
}

export interface ListedPage {
  entries: ListedEntry[];
  /** Where the next page starts; undefined when this was the last page. */
  cursor?: string;
}

/**
 * A cursor of a versioned listing: its key and version-id markers, in a prefix no ListObjectsV2
 * continuation token starts with. The stored cursor alone says which listing a scan resumes.
 */
const VERSIONS_CURSOR = 'versions:';

/** ListObjectVersions for a versioned bucket (only current versions count), else ListObjectsV2. */
export async function listPage(
  s3: S3Client,
  target: { bucket: string; prefix: string; cursor?: string },
  pageSize: number,
): Promise<ListedPage> {
  const { bucket, cursor } = target;
  const prefix = target.prefix || undefined;
  try {
    const versioned =
      cursor === undefined ? await isVersioned(s3, bucket) : cursor.startsWith(VERSIONS_CURSOR);
    if (versioned) {
      const markers = cursor
        ? (JSON.parse(cursor.slice(VERSIONS_CURSOR.length)) as { key?: string; version?: string })
        : {};
      const page = await s3.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          Prefix: prefix,
          MaxKeys: pageSize,
          KeyMarker: markers.key,
          VersionIdMarker: markers.version,
        }),
      );
      const entries: ListedEntry[] = [];
      for (const version of page.Versions ?? []) {
        // A noncurrent version is nobody's object any more; a deleted object's latest is a delete marker.
        if (!version.IsLatest || version.Key === undefined) continue;
        entries.push(entry(version.Key, version.ETag, version.Size, version.LastModified, version.VersionId));
      }
      const next = page.IsTruncated
        ? `${VERSIONS_CURSOR}${JSON.stringify({ key: page.NextKeyMarker, version: page.NextVersionIdMarker })}`
        : undefined;
      return next ? { entries, cursor: next } : { entries };
    }
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        MaxKeys: pageSize,
        ContinuationToken: cursor,
      }),
    );
    const entries = (page.Contents ?? [])
      .filter((object) => object.Key !== undefined)
      .map((object) => entry(object.Key!, object.ETag, object.Size, object.LastModified));
    const next = page.IsTruncated ? page.NextContinuationToken : undefined;
    return next ? { entries, cursor: next } : { entries };
  } catch (error) {
    throw classifyS3Error(error, { bucket, key: target.prefix });
  }
}

function entry(
  key: string,
  etag: string | undefined,
  size: number | undefined,
  lastModified: Date | undefined,
  versionId?: string,
): ListedEntry {
  const listed: ListedEntry = { key, size: size ?? 0 };
  if (etag) listed.etag = etag.replaceAll('"', '');
  if (lastModified) listed.lastModified = lastModified;
  if (versionId && versionId !== 'null') listed.versionId = versionId;
  return listed;
}

/** Enabled or Suspended: versions exist. Stores without versioning (or the API) answer otherwise. */
async function isVersioned(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    const answer = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    return answer.Status === 'Enabled' || answer.Status === 'Suspended';
  } catch (error) {
    const name = (error as { name?: unknown }).name;
    if (name === 'NotImplemented' || name === 'MethodNotAllowed') return false;
    throw error;
  }
}

import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { BucketScanView } from 'scangate/client';
import type { S3rverHandle } from './s3rver.ts';
import { authHeaders, KEY_A, waitFor } from './service.ts';

/** An S3 client on s3rver, for a test to put objects and read back what scangate did to them. */
export function testS3Client(s3: S3rverHandle): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.config.accessKeyId, secretAccessKey: s3.config.secretAccessKey },
  });
}

export async function putObject(
  client: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  tags?: Record<string, string>,
): Promise<string> {
  const answer = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  // Set apart: s3rver ignores the x-amz-tagging header of a PUT.
  if (tags) await setTags(client, bucket, key, tags);
  return answer.ETag!.replaceAll('"', '');
}

export async function setTags(
  client: S3Client,
  bucket: string,
  key: string,
  tags: Record<string, string>,
): Promise<void> {
  const TagSet = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  await client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: key, Tagging: { TagSet } }));
}

export async function tagsOf(client: S3Client, bucket: string, key: string): Promise<Record<string, string>> {
  const answer = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  return Object.fromEntries((answer.TagSet ?? []).map((tag) => [tag.Key!, tag.Value!]));
}

export async function exists(client: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return false;
    throw error;
  }
}

export async function keysOf(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const answer = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (answer.Contents ?? []).map((entry) => entry.Key!).sort();
}

/** The wire shape is the client's: tests read what clients read. */
export type BucketScanBody = BucketScanView;

export interface BucketObjectBody {
  key: string;
  status: string | null;
  finding: string | null;
  scan_id: string;
  scans: number;
  state: string;
  actions: { action: string; ok: boolean; detail?: string }[];
}

export async function api<T>(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  key = KEY_A,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...authHeaders(key), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Polls the scan's progress until it is no longer running. */
export async function waitForBucketScan(
  url: string,
  id: string,
  timeoutMs = 60_000,
): Promise<BucketScanBody> {
  return waitFor(async () => {
    const { body } = await api<BucketScanBody>(url, 'GET', `/v1/buckets/scans/${id}`);
    return ['done', 'cancelled', 'failed'].includes(body.state) ? body : undefined;
  }, timeoutMs);
}

export async function objectsOf(url: string, id: string): Promise<Map<string, BucketObjectBody>> {
  const { body } = await api<{ objects: BucketObjectBody[] }>(
    url,
    'GET',
    `/v1/buckets/scans/${id}/objects?limit=1000`,
  );
  return new Map(body.objects.map((object) => [object.key, object]));
}

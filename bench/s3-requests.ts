import type { RecordedRequest } from '../test/support/s3rver.ts';

/**
 * The S3 operation a recorded request was, from its method and query, as the SDK sends them
 * (`?x-id=GetObject`, `?tagging`, `?list-type=2`): what the bucket bench counts per object.
 */
export function s3Operation({ method, url }: RecordedRequest): string {
  const query = new URLSearchParams(url.split('?')[1] ?? '');
  if (query.has('tagging')) return method === 'PUT' ? 'PutObjectTagging' : 'GetObjectTagging';
  if (query.get('list-type') === '2') return 'ListObjectsV2';
  if (query.has('versions')) return 'ListObjectVersions';
  if (query.has('versioning')) return 'GetBucketVersioning';
  const named = query.get('x-id');
  if (named) return named;
  if (method === 'HEAD') return 'HeadObject';
  return `${method} ${url.split('?')[0]?.split('/').length === 2 ? 'bucket' : 'object'}`;
}

/** Requests per operation, most frequent first. */
export function countOperations(requests: readonly RecordedRequest[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const request of requests) {
    const operation = s3Operation(request);
    counts.set(operation, (counts.get(operation) ?? 0) + 1);
  }
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
}

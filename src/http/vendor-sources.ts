import type { ScanSource } from '../jobs/model.ts';
import { downloadHeaders, httpUrl } from './request-validation.ts';

/** The vendor dialects' `{download_url, download_headers?}`, checked, as a URL source. */
export function urlSourceFrom(body: {
  download_url: string;
  download_headers?: Record<string, string> | undefined;
}): Extract<ScanSource, { kind: 'url' }> {
  const headers = downloadHeaders(body.download_headers);
  return { kind: 'url', url: httpUrl(body.download_url, 'download_url'), ...(headers ? { headers } : {}) };
}

/** The vendor dialects' `{bucket, key, version?}` as an S3 source. */
export function s3SourceFrom(body: {
  bucket: string;
  key: string;
  version?: string | undefined;
}): Extract<ScanSource, { kind: 's3' }> {
  return {
    kind: 's3',
    bucket: body.bucket,
    key: body.key,
    ...(body.version ? { version: body.version } : {}),
  };
}

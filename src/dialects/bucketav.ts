import type { NewScanJob, ScanResult, ScanSource } from '../scan.ts';

/** Everything bucketAV puts on the wire: its status word, its result body and its callback body. */

export type BucketAvStatus = 'clean' | 'infected' | 'no';

/**
 * bucketAV has one word for "could not be judged": `no`. A content-policy refusal is shown as the
 * vendor shows malware — `infected` with a `Policy.*` finding — so existing clients refuse it.
 */
export function bucketAvStatus(result: ScanResult): BucketAvStatus {
  if (result.status === 'unscannable') return 'no';
  if (result.status === 'blocked') return 'infected';
  return result.status;
}

/** Infected and blocked results name what was found (a signature, or a `Policy.*` rule). */
const namesFinding = (result: ScanResult): boolean =>
  result.status === 'infected' || result.status === 'blocked';

/** Durations travel as seconds with millisecond precision. */
export function toSeconds(milliseconds: number): number {
  return Math.round(milliseconds) / 1000;
}

export interface BucketAvResultBody {
  status: BucketAvStatus;
  finding?: string;
  size?: number;
  /** attachmentAV's field, served by both vendor dialects: the type told by the content. */
  realfiletype?: string;
}

export function bucketAvResultBody(result: ScanResult): BucketAvResultBody {
  const body: BucketAvResultBody = { status: bucketAvStatus(result) };
  if (namesFinding(result) && result.finding) body.finding = result.finding;
  if (result.size !== undefined) body.size = result.size;
  if (result.fileType) body.realfiletype = result.fileType.ext;
  return body;
}

/** The bucketAV callback body (bucketscan sends the same; native adds to it). */
export interface BucketAvCallback {
  status: BucketAvStatus;
  finding?: string;
  /** Absent when the bytes were never read (a failed download): never an invented 0. */
  size?: number;
  /** Seconds, as bucketAV sends them. */
  download_time: number;
  scan_time: number;
  download_url: string;
  trace_id?: string;
  custom_data?: string;
  /** The type told by the content (attachmentAV's name for it), the detection the policy uses; absent for unknown binary data. */
  realfiletype?: string;
}

export function bucketAvCallback(
  job: Pick<NewScanJob, 'source' | 'traceId' | 'customData'>,
  result: ScanResult,
): BucketAvCallback {
  return {
    status: bucketAvStatus(result),
    ...(result.finding !== undefined && namesFinding(result) ? { finding: result.finding } : {}),
    ...(result.size !== undefined ? { size: result.size } : {}),
    download_time: toSeconds(result.downloadTimeMs ?? 0),
    scan_time: toSeconds(result.scanTimeMs ?? 0),
    download_url: sourceLocation(job.source),
    ...(job.traceId !== undefined ? { trace_id: job.traceId } : {}),
    ...(job.customData !== undefined ? { custom_data: job.customData } : {}),
    ...(result.fileType ? { realfiletype: result.fileType.ext } : {}),
  };
}

/** What the callback reports as download_url: the URL, s3://bucket/key, or the upload's name. */
export function sourceLocation(source: ScanSource): string {
  switch (source.kind) {
    case 'url':
      return source.url;
    case 's3':
      return `s3://${source.bucket}/${source.key}`;
    case 'upload':
      return `upload://${encodeURIComponent(source.filename ?? '')}`;
  }
}

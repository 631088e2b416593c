import type { NewCallbackDelivery, NewScanJob, ScanResult, ScanSource } from '../jobs/model.ts';

/** The bucketAV callback body; the native dialect adds scan_id, reason and sha256. */
export interface CallbackPayload {
  status: 'clean' | 'infected' | 'no';
  finding?: string;
  /** Absent when the bytes were never read (a failed download): never an invented 0. */
  size?: number;
  /** Seconds, as bucketAV sends them. */
  download_time: number;
  scan_time: number;
  download_url: string;
  trace_id?: string;
  custom_data?: string;
  /** The type told by the content (attachmentAV's name for it); absent for text and unknowns. */
  realfiletype?: string;
  scan_id?: string;
  reason?: string;
  sha256?: string;
  verdict?: ScanResult['status'];
  rule?: string;
  evidence?: string;
}

/** bucketAV's words: `no` for unscannable, and a policy refusal looks like malware (`infected`). */
function bucketAvCallbackStatus(result: ScanResult): 'clean' | 'infected' | 'no' {
  if (result.status === 'unscannable') return 'no';
  return result.status === 'blocked' ? 'infected' : result.status;
}

/**
 * The exact bytes POSTed to the callback URL. Built once when the result is stored: the same
 * string is signed on every attempt, so retries carry byte-identical bodies.
 */
export function callbackBody(
  job: Pick<NewScanJob, 'id' | 'dialect' | 'source' | 'traceId' | 'customData'>,
  result: ScanResult,
): string {
  const payload: CallbackPayload = {
    status: bucketAvCallbackStatus(result),
    ...(result.finding !== undefined && (result.status === 'infected' || result.status === 'blocked')
      ? { finding: result.finding }
      : {}),
    ...(result.size !== undefined ? { size: result.size } : {}),
    download_time: seconds(result.downloadTimeMs),
    scan_time: seconds(result.scanTimeMs),
    download_url: sourceLocation(job.source),
    ...(job.traceId !== undefined ? { trace_id: job.traceId } : {}),
    ...(job.customData !== undefined ? { custom_data: job.customData } : {}),
    ...(result.fileType ? { realfiletype: result.fileType.ext } : {}),
  };
  if (job.dialect === 'native') {
    payload.scan_id = job.id;
    // `status` keeps bucketAV's words; `verdict` tells a policy refusal from malware.
    payload.verdict = result.status;
    if (result.rule !== undefined) payload.rule = result.rule;
    if (result.evidence !== undefined) payload.evidence = result.evidence;
    if (result.reason !== undefined) payload.reason = result.reason;
    if (result.sha256 !== undefined) payload.sha256 = result.sha256;
  }
  return JSON.stringify(payload);
}

/** The outbox row for a finished job, or undefined when the job has no callback. */
export function callbackDeliveryFor(
  job: Pick<NewScanJob, 'id' | 'dialect' | 'source' | 'traceId' | 'customData' | 'callback'>,
  result: ScanResult,
): NewCallbackDelivery | undefined {
  if (!job.callback) return undefined;
  return {
    id: webhookMessageId(job.id),
    url: job.callback.url,
    headers: job.callback.headers,
    body: callbackBody(job, result),
  };
}

/** Standard Webhooks ids are signed as `{id}.{timestamp}.{body}`: no dots, nothing exotic. */
export function webhookMessageId(jobId: string): string {
  return `msg_${jobId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
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

function seconds(milliseconds: number | undefined): number {
  return milliseconds === undefined ? 0 : Math.round(milliseconds) / 1000;
}

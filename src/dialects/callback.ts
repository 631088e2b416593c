import type { NewCallbackDelivery, NewScanJob, ScanResult } from '../scan.ts';
import { bucketAvCallback } from './bucketav.ts';
import { nativeCallback } from './native.ts';

/**
 * The exact bytes POSTed to the callback URL, in the job's dialect. Built once when the result is
 * stored: the same string is signed on every attempt, so retries carry byte-identical bodies.
 */
export function callbackBody(
  job: Pick<NewScanJob, 'id' | 'dialect' | 'source' | 'traceId' | 'customData'>,
  result: ScanResult,
): string {
  return JSON.stringify(
    job.dialect === 'native' ? nativeCallback(job, result) : bucketAvCallback(job, result),
  );
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

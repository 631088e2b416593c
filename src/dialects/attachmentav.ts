import type { FailedDelivery } from '../scan.ts';
import { sourceLocation } from './bucketav.ts';

/**
 * What the attachmentAV dialect adds to bucketAV's wire shapes (its results and callbacks are
 * bucketAV's, plus `realfiletype`): one entry of its failed-callback list.
 */
export interface AttachmentAvCallbackFailure {
  id: string;
  time: string;
  download_url: string;
  callback_url: string;
  /** JSON text: `{error, status_code, attempts}`, as the vendor sends it. */
  error_json: string;
}

export function attachmentAvCallbackFailure(delivery: FailedDelivery): AttachmentAvCallbackFailure {
  return {
    id: delivery.id,
    time: delivery.failedAt.toISOString(),
    download_url: sourceLocation(delivery.source),
    callback_url: delivery.url,
    error_json: JSON.stringify({
      error: delivery.lastError ?? null,
      status_code: delivery.lastStatusCode ?? null,
      attempts: delivery.attempts,
    }),
  };
}

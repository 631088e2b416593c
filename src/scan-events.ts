import { EventEmitter } from 'node:events';
import type { ScanResult, ScanSource } from './scan.ts';

/**
 * Everything scangate reports as it works, in one typed map: the workers, the scan service and the
 * delivery worker emit, and metrics (or anything else) subscribe, instead of one callback per class.
 */
export interface ScanEventMap {
  /** A verdict was reached: stored by a worker, or answered by a synchronous scan. */
  'scan:finished': [{ source: ScanSource['kind']; result: ScanResult; durationMs: number }];
  /** A scan attempt failed and the job will be tried again. */
  'scan:retried': [{ jobId: string; error: unknown }];
  /** A callback was stored with a verdict: local delivery can start now instead of at its next poll. */
  'callback:queued': [{ jobId: string }];
  /** A callback attempt was recorded (or could not be). */
  'callback:attempt': [{ outcome: 'delivered' | 'retry' | 'failed' | 'error' }];
  /** Bucket scan objects entered a stage: listed (recorded from a listing page) or queued (submitted as jobs). */
  'bucket:objects': [{ stage: 'listed' | 'queued'; count: number }];
  /** A bucket object was settled: its verdict (clean, infected, unscannable, blocked) or skipped / failed. */
  'bucket:settled': [{ outcome: string }];
  /** An action on a bucket object was taken (ok) or failed for good. */
  'bucket:action': [{ action: 'tag' | 'delete' | 'quarantine' | 'rescan' | 'skip'; ok: boolean }];
  /** An S3 event notification delivery: accepted (with its records by outcome) or refused whole. */
  'bucket:notification': [
    { outcome: 'accepted' | 'refused'; records?: { queued: number; duplicates: number; ignored: number } },
  ];
  /** An SNS subscription confirmation: confirmed (SubscribeURL fetched) or refused. */
  'bucket:subscription': [{ outcome: 'confirmed' | 'refused' }];
}

export class ScanEvents extends EventEmitter<ScanEventMap> {}

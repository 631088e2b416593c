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
}

export class ScanEvents extends EventEmitter<ScanEventMap> {}

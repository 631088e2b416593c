import type { ScanResult } from './scan.ts';

/** What happens to an object once its verdict is known (per scan, defaulting to the tenant's). */
export interface BucketActions {
  /**
   * `scangate`: scangate-status, scangate-finding, scangate-scanned-at. `bucketav`: bucketAV's own
   * tag, so rules written for bucketAV keep working. `none`: no tags.
   */
  tag: 'none' | 'scangate' | 'bucketav';
  /** Infected objects: left alone, deleted, or copied to the quarantine location and then deleted. */
  infected: 'none' | 'delete' | 'quarantine';
  quarantine?: { bucket: string; prefix: string };
}

export const DEFAULT_BUCKET_ACTIONS: BucketActions = { tag: 'scangate', infected: 'none' };

/** `scan`: one walk over a prefix. `events`: the tenant's inbox for S3 event notifications of a bucket. `watch`: a prefix listed on an interval. */
export type BucketScanOrigin = 'scan' | 'events' | 'watch';
export type BucketScanState = 'running' | 'done' | 'cancelled' | 'failed';

export interface NewBucketScan {
  id: string;
  tenantId: string;
  origin: BucketScanOrigin;
  bucket: string;
  prefix: string;
  since?: Date;
  actions: BucketActions;
  watchIntervalMs?: number;
}

export interface BucketScanCounts {
  listed: number;
  bytesListed: number;
  clean: number;
  infected: number;
  unscannable: number;
  /** Verdicts other than the three above (a verdict kind added later is still counted). */
  otherVerdicts: number;
  /** No verdict could be reached (job lost, object kept changing). */
  failed: number;
  /** Listed but gone before its verdict could be acted on (deleted meanwhile). */
  skipped: number;
  rescans: number;
  bytesSettled: number;
}

export interface BucketScan extends NewBucketScan {
  state: BucketScanState;
  paused: boolean;
  /** ListObjectsV2 continuation token of the next page to list (undefined: from the start). */
  cursor?: string;
  listingDone: boolean;
  counts: BucketScanCounts;
  createdAt: Date;
  updatedAt: Date;
  finishedAt?: Date;
  nextPassAt?: Date;
  lastError?: string;
}

export interface LeasedBucketScan {
  scan: BucketScan;
  leaseToken: string;
}

/** One object as a listing page (or an event) showed it. */
export interface SightedObject {
  key: string;
  versionId?: string;
  etag?: string;
  size: number;
  /** Unique within the scan: the same sighting recorded twice is one object. */
  dedupeKey: string;
  /** Decided before the job exists, so a crash between recording and submitting cannot submit twice. */
  jobId: string;
}

export type BucketObjectState = 'listed' | 'queued' | 'settled' | 'cancelled';

export interface BucketActionRecord {
  action: 'tag' | 'delete' | 'quarantine' | 'rescan' | 'skip';
  ok: boolean;
  at: string;
  /** What was done or why not (tag set written, quarantine key, error code). */
  detail?: string;
  jobId?: string;
}

export interface BucketObject {
  seq: number;
  scanId: string;
  key: string;
  versionId?: string;
  etag?: string;
  size: number;
  jobId: string;
  state: BucketObjectState;
  scanAttempts: number;
  outcome?: string;
  finding?: string;
  actions: BucketActionRecord[];
  createdAt: Date;
  settledAt?: Date;
}

/** An object whose scan job has finished, with the job's verdict: ready for its actions. */
export interface ObjectToSettle {
  object: BucketObject;
  /** Undefined when the job no longer exists (swept or cancelled): the object is failed. */
  result?: ScanResult;
}

export interface ObjectSettlement {
  outcome: string;
  finding?: string;
  actions: BucketActionRecord[];
  /** Counted in bytes_settled. */
  size: number;
}

export interface BucketObjectFilter {
  outcome?: string;
  limit: number;
  /** Objects after this seq (pagination in listing order). */
  after?: number;
}

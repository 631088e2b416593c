import type { ScanResult } from '../model.ts';

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

/**
 * Where bucket scans live: the same database as the jobs (SQLite file or PostgreSQL schema), in
 * tables of their own. Work on a scan (listing a page, settling objects) happens under a lease with
 * a fencing token, like jobs: a node that lost the lease cannot move the cursor or count twice.
 */
export interface BucketScanStore {
  init(): Promise<void>;
  close(): Promise<void>;

  createScan(scan: NewBucketScan): Promise<BucketScan>;
  getScan(tenantId: string, id: string): Promise<BucketScan | undefined>;
  listScans(tenantId: string, limit: number): Promise<BucketScan[]>;
  /** The tenant's event inbox for a bucket, created with `create` on first use. */
  eventInbox(tenantId: string, bucket: string, create: () => NewBucketScan): Promise<BucketScan>;
  /** Pauses or resumes a running scan; undefined when there is no such running scan. */
  setPaused(tenantId: string, id: string, paused: boolean): Promise<BucketScan | undefined>;
  /**
   * Cancels a running scan: its unsettled objects are cancelled and their queued jobs deleted (a
   * job already running finishes, its verdict is not acted on). Undefined when not running.
   */
  cancelScan(tenantId: string, id: string): Promise<BucketScan | undefined>;

  /** Leases a running scan whose lease is free (round robin by lease expiry). */
  leaseScan(leaseMs: number): Promise<LeasedBucketScan | undefined>;
  /** Gives the lease back; the scan is not leased again for `delayMs` (nothing to do for now). */
  releaseScan(id: string, leaseToken: string, delayMs?: number): Promise<void>;
  /**
   * Records one listing page in one transaction: the objects (a sighting already recorded is
   * ignored), the cursor of the next page, and listingDone when there is none. False when the
   * lease was lost (nothing recorded).
   */
  recordPage(
    id: string,
    leaseToken: string,
    objects: SightedObject[],
    next: { cursor?: string; listingDone: boolean; highWater?: Date },
  ): Promise<boolean>;
  /** Records objects that arrived by event notification; returns those that were new. */
  recordSightings(scanId: string, objects: SightedObject[]): Promise<SightedObject[]>;
  /** Objects recorded but whose job may not exist yet (a crash between the two). */
  objectsToSubmit(scanId: string, limit: number): Promise<BucketObject[]>;
  markSubmitted(scanId: string, seqs: number[]): Promise<void>;
  /** Queued objects whose job is done (or gone), oldest first. */
  objectsToSettle(scanId: string, limit: number): Promise<ObjectToSettle[]>;
  /** Objects listed or queued and not yet settled. */
  countOutstanding(scanId: string): Promise<number>;
  /** Settles a queued object and counts it, once; false when it was not queued any more or the lease was lost. */
  settleObject(
    scanId: string,
    leaseToken: string,
    seq: number,
    settlement: ObjectSettlement,
  ): Promise<boolean>;
  /** The object changed since it was scanned: scan it again as a new job (new ETag/version). */
  requeueObject(
    scanId: string,
    leaseToken: string,
    seq: number,
    next: { jobId: string; etag?: string; versionId?: string; action: BucketActionRecord },
  ): Promise<boolean>;
  /** Ends a scan whose listing is done and whose objects are all settled. */
  finishScan(id: string, leaseToken: string, state: 'done' | 'failed', error?: string): Promise<boolean>;
  /**
   * Starts the next pass of a watch: listing from the start again, only objects modified since the
   * newest one seen minus `marginMs` (an upload that began earlier may finish, and show, later).
   */
  startWatchPass(id: string, leaseToken: string, nextPassAt: Date, marginMs: number): Promise<boolean>;

  listObjects(tenantId: string, scanId: string, filter: BucketObjectFilter): Promise<BucketObject[]>;
  /** The bucket object a scan job belongs to (its actions for the native API). */
  objectForJob(tenantId: string, jobId: string): Promise<BucketObject | undefined>;

  /**
   * Retention: deletes scans that ended before `before` with their objects, and the settled objects
   * of event inboxes and watches settled before it (their counters stay).
   */
  sweepExpired(before: Date): Promise<{ scans: number; objects: number }>;

  getTenantActions(tenantId: string): Promise<BucketActions | undefined>;
  putTenantActions(tenantId: string, actions: BucketActions): Promise<void>;
}

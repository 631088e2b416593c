import type {
  BucketActionRecord,
  BucketActions,
  BucketObject,
  BucketObjectFilter,
  BucketScan,
  LeasedBucketScan,
  NewBucketScan,
  ObjectSettlement,
  ObjectToSettle,
  SightedObject,
} from '../bucket-scan.ts';
import type {
  ApiKeyRecord,
  CallbackDelivery,
  ContentPolicy,
  FailedDeliveryPage,
  JobListFilter,
  NewCallbackDelivery,
  NewScanJob,
  ScanJob,
  ScanResult,
  VerdictCounts,
} from '../scan.ts';

/*
 * What the rest of scangate may ask of persistence: four small contracts, each implemented once per
 * dialect (store/sqlite/*.ts, store/postgres/*.ts) and held equal by one contract suite
 * (test/store/contract/). Nothing outside src/store/ speaks SQL.
 *
 * Leases are at-least-once with fencing: a job or delivery is leased with a random token and an
 * expiry; extend, complete, retry and release all require the token and return false when the lease
 * was lost (expired and taken by another worker), so a stale worker can never overwrite a newer
 * attempt. A lease that expires puts the row back in the queue (the attempt already counted).
 */

/** The two queues whose workers can be woken: scan jobs and callback deliveries. */
export type WorkQueue = 'jobs' | 'deliveries' | 'buckets';

export interface LeaseOptions {
  /** Jobs of one tenant running at once, across every worker on this store (0 = no limit). */
  maxRunningPerTenant?: number;
  /**
   * The verdict cache key scans run under now: a leased upload whose sha256 has a cached verdict
   * under it brings that verdict (LeasedJob.cachedResult), read by the lease's own statement.
   */
  verdictCacheKey?: string | undefined;
}

export interface LeasedJob {
  job: ScanJob;
  /** Fencing token: every later write for this attempt must present it. */
  leaseToken: string;
  leaseExpiresAt: Date;
  /** The cached verdict of the upload's bytes under LeaseOptions.verdictCacheKey, when there is one. */
  cachedResult?: ScanResult | undefined;
}

/** One finished job of a batch: its result and callback, under its own lease token. */
export interface JobCompletion {
  jobId: string;
  leaseToken: string;
  result: ScanResult;
  delivery?: NewCallbackDelivery | undefined;
  /** Remembered in the verdict cache in the transaction that stores the result. */
  verdictCacheEntry?: CachedVerdict | undefined;
}

/** One job of a submitted batch: stored, or refused alone (duplicate_trace_id, invalid_request). */
export type SubmitOutcome = { job: ScanJob; error?: undefined } | { job?: undefined; error: unknown };

export interface LeasedDelivery {
  delivery: CallbackDelivery;
  leaseToken: string;
  leaseExpiresAt: Date;
}

export interface CachedVerdict {
  sha256: string;
  /** The engine and signature versions the verdict was reached with (engine/verdict.ts verdictCacheKey). */
  cacheKey: string;
  result: ScanResult;
}

/** The scan queue: jobs from submit to result. */
export interface JobQueueStore {
  /**
   * Persists a new queued job. Throws ScanGateError('duplicate_trace_id') when the tenant already has
   * a queued or running job with the same traceId. A finished job with the same traceId is replaced
   * as the answer to getByTraceId (the newest job wins).
   */
  submit(job: NewScanJob): Promise<ScanJob>;
  /**
   * Submits several jobs in one transaction (one commit, one fsync), each as submit() would, in
   * order. A job refused on its own (duplicate trace id) does not refuse the others: its outcome
   * carries the error. A failure of the transaction itself (database down) rejects the whole call.
   */
  submitMany(jobs: readonly NewScanJob[]): Promise<SubmitOutcome[]>;
  get(tenantId: string, jobId: string): Promise<ScanJob | undefined>;
  getByTraceId(tenantId: string, traceId: string): Promise<ScanJob | undefined>;
  list(tenantId: string, filter: JobListFilter): Promise<ScanJob[]>;
  countVerdicts(tenantId: string, since: Date, bucketSeconds: number): Promise<VerdictCounts[]>;
  /** Jobs queued or running for this tenant (quota), or for everyone when tenantId is undefined. */
  countUnfinished(tenantId?: string): Promise<number>;
  /** Which of these job ids (any tenant) are queued or running: their staged uploads are still needed. */
  unfinishedIds(jobIds: readonly string[]): Promise<Set<string>>;

  /**
   * Leases a job whose nextAttemptAt has passed (queued, or running with an expired lease), picked
   * fairly across tenants: from the tenant with the fewest jobs running now (then the oldest due
   * job first), so a tenant's backlog never queues another tenant's job behind it. A tenant with
   * `maxRunningPerTenant` jobs running (0 = no limit) gets no more until one finishes.
   */
  lease(leaseMs: number, options?: LeaseOptions): Promise<LeasedJob | undefined>;
  /**
   * Leases up to `max` jobs in one transaction, the same jobs in the same order as `max` calls of
   * lease() would (fair picking and maxRunningPerTenant hold inside the batch). Fewer than `max`
   * means nothing else is due for now.
   */
  leaseMany(leaseMs: number, max: number, options?: LeaseOptions): Promise<LeasedJob[]>;
  extendLease(jobId: string, leaseToken: string, leaseMs: number): Promise<boolean>;
  /**
   * Stores the result and, in the same transaction, the callback delivery (outbox): a crash between
   * the two cannot lose the callback.
   */
  complete(
    jobId: string,
    leaseToken: string,
    result: ScanResult,
    delivery?: NewCallbackDelivery,
  ): Promise<boolean>;
  /**
   * complete() for several jobs in one transaction: one answer per completion, in order. A stale
   * token refuses only its own job (false); the others are stored.
   */
  completeMany(completions: readonly JobCompletion[]): Promise<boolean[]>;
  /**
   * completeMany(), then leaseMany(next.leaseMs, next.max, next.options) for the slots the
   * completions free: a busy worker's next jobs without a write transaction of their own. SQLite
   * does both in one transaction (when it fails, the call rejects with nothing stored or leased);
   * PostgreSQL runs them one after the other, as many round trips as before. Nothing is leased when
   * next.max is 0.
   */
  completeAndLease(
    completions: readonly JobCompletion[],
    next: { leaseMs: number; max: number; options?: LeaseOptions },
  ): Promise<{ stored: boolean[]; leased: LeasedJob[] }>;
  /** Puts the job back in the queue until retryAt, recording why. */
  retry(jobId: string, leaseToken: string, error: string, retryAt: Date): Promise<boolean>;
  /** Gives a lease back without counting the attempt (graceful shutdown). */
  release(jobId: string, leaseToken: string): Promise<boolean>;

  /**
   * Deletes finished jobs completed before `completedBefore` whose deliveries are no longer pending,
   * with their deliveries; and cached verdicts older than the same instant.
   */
  sweepExpired(completedBefore: Date): Promise<{ jobs: number; deliveries: number }>;
}

/** The callback outbox: deliveries written with their job's result, leased by the delivery workers. */
export interface DeliveryOutbox {
  lease(leaseMs: number): Promise<LeasedDelivery | undefined>;
  markDelivered(deliveryId: string, leaseToken: string, statusCode: number): Promise<boolean>;
  retry(
    deliveryId: string,
    leaseToken: string,
    error: string,
    statusCode: number | undefined,
    retryAt: Date,
  ): Promise<boolean>;
  fail(
    deliveryId: string,
    leaseToken: string,
    error: string,
    statusCode: number | undefined,
  ): Promise<boolean>;
  release(deliveryId: string, leaseToken: string): Promise<boolean>;
  listForJob(tenantId: string, jobId: string): Promise<CallbackDelivery[]>;
  /** The tenant's deliveries to `callbackUrl` that failed for good, newest first. */
  listFailed(
    tenantId: string,
    callbackUrl: string,
    limit: number,
    cursor?: string,
  ): Promise<FailedDeliveryPage>;
}

/** Verdicts by content hash and engine/signature versions (engine/verdict.ts verdictCacheKey). */
export interface VerdictCache {
  get(sha256: string, cacheKey: string): Promise<ScanResult | undefined>;
  put(entry: CachedVerdict): Promise<void>;
}

/** API keys (hashes only) and the per-tenant webhook signing secrets. */
export interface KeyStore {
  create(record: ApiKeyRecord): Promise<void>;
  findByHash(keyHash: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  revoke(id: string): Promise<boolean>;
  /** One Standard Webhooks secret per tenant, created on first use and kept. */
  webhookSecret(tenantId: string, create: () => string): Promise<string>;
}

/** Each tenant's content policy (docs/POLICY.md); undefined means the default policy. */
export interface PolicyStore {
  get(tenantId: string): Promise<ContentPolicy | undefined>;
  /** Replaces the tenant's content policy; undefined goes back to the default. */
  set(tenantId: string, policy: ContentPolicy | undefined): Promise<void>;
}

/** One opened database: the contracts above over one connection (SQLite) or pool (PostgreSQL). */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly jobs: JobQueueStore;
  readonly outbox: DeliveryOutbox;
  readonly verdicts: VerdictCache;
  readonly keys: KeyStore;
  readonly policies: PolicyStore;
  /** Creates or migrates the schema. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Throws ScanGateError('store_unavailable') when the database cannot be reached. */
  ping(): Promise<void>;
  /**
   * Calls `wake` when another process sharing the store announces work in `queue` (a submitted
   * job, a released lease, a stored callback): PostgreSQL's LISTEN/NOTIFY. SQLite serves one
   * process, whose workers are woken in-process, so it announces nothing. Returns the unsubscribe.
   * Announcements can be lost (a dropped connection): workers still poll, slowly.
   */
  watchWork(queue: WorkQueue, wake: () => void): () => void;
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

  /**
   * Tells the walkers of other processes sharing the store that a scan has work now (created,
   * resumed, objects arrived by event), after it was committed. Nothing to tell on SQLite: one
   * process walks its scans and is woken in-process.
   */
  announceWork(): Promise<void>;
  /** Leases a running scan whose lease is free (round robin by lease expiry). */
  leaseScan(leaseMs: number): Promise<LeasedBucketScan | undefined>;
  /** When the next running scan can be leased (its lease or release delay ends); none when no scan runs. */
  nextScanDueAt(): Promise<Date | undefined>;
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

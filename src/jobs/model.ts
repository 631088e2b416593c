import type { DetectedFileType } from '../engine/file-type-sniffer.ts';
import type { UnscannableReason, Verdict, VerdictStatus } from '../engine/verdict.ts';
import type { ContentInspection } from '../policy/inspector.ts';
import type { ContentPolicy } from '../policy/policy.ts';

/** Which API a job came through: it decides the shape of its result and callback. */
export type Dialect = 'bucketav' | 'attachmentav' | 'bucketscan' | 'native';

export type ScanSource =
  | { kind: 'upload'; blobKey: string; filename?: string; size: number; sha256?: string }
  | { kind: 'url'; url: string; headers?: Record<string, string> }
  | { kind: 's3'; bucket: string; key: string; version?: string };

export interface CallbackTarget {
  url: string;
  headers: Record<string, string>;
}

export interface NewScanJob {
  id: string;
  tenantId: string;
  traceId?: string;
  dialect: Dialect;
  source: ScanSource;
  callback?: CallbackTarget;
  customData?: string;
  /** The content policy in force, resolved at submit (tenant's, narrowed by the request). Absent: default. */
  policy?: ContentPolicy;
}

/** The stored result of a finished job: the verdict plus everything needed to trust it. */
export interface ScanResult extends Verdict {
  status: VerdictStatus;
  reason?: UnscannableReason;
  size?: number;
  sha256?: string;
  engine?: string;
  engineVersion?: string;
  signatureVersion?: string;
  /** `clamav`, or `scangate-test` when the offline test database judged it (SIGNATURES=test). */
  signatureDatabase?: string;
  downloadTimeMs?: number;
  scanTimeMs?: number;
  /** True when the verdict came from the verdict cache (same bytes, same signatures). */
  cached?: boolean;
  /** The type told by the content (magic numbers), whatever the name says; absent for text and unknowns. */
  fileType?: DetectedFileType;
  /** The name the content was submitted under (upload filename, URL or S3 key segment). */
  declaredName?: string;
  /** What scangate saw in the bytes, whatever the policy: true type and content findings. */
  content?: ContentInspection;
}

export type JobState = 'queued' | 'running' | 'done';

export interface ScanJob extends NewScanJob {
  state: JobState;
  attempts: number;
  createdAt: Date;
  startedAt?: Date;
  completedAt?: Date;
  nextAttemptAt: Date;
  lastError?: string;
  result?: ScanResult;
}

export interface LeaseOptions {
  /** Jobs of one tenant running at once, across every worker on this store (0 = no limit). */
  maxRunningPerTenant?: number;
}

export interface LeasedJob {
  job: ScanJob;
  /** Fencing token: every later write for this attempt must present it. */
  leaseToken: string;
  leaseExpiresAt: Date;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface NewCallbackDelivery {
  /** Standard Webhooks `webhook-id`: stable across every attempt of this delivery. */
  id: string;
  url: string;
  headers: Record<string, string>;
  /** The exact bytes POSTed on every attempt (signatures cover them). */
  body: string;
}

export interface CallbackDelivery extends NewCallbackDelivery {
  jobId: string;
  tenantId: string;
  state: DeliveryState;
  attempts: number;
  createdAt: Date;
  nextAttemptAt: Date;
  deliveredAt?: Date;
  lastError?: string;
  lastStatusCode?: number;
}

/** A callback that failed for good, with what its job scanned (for attachmentAV's failure list). */
export interface FailedDelivery extends CallbackDelivery {
  /** When the last attempt failed and the delivery was given up. */
  failedAt: Date;
  source: ScanSource;
}

export interface FailedDeliveryPage {
  deliveries: FailedDelivery[];
  /** Opaque: pass it back to get the next (older) page; absent on the last page. */
  nextCursor?: string;
}

export interface LeasedDelivery {
  delivery: CallbackDelivery;
  leaseToken: string;
  leaseExpiresAt: Date;
}

export interface JobListFilter {
  status?: VerdictStatus | 'pending';
  limit: number;
  /** Only jobs created before this instant (pagination, newest first). */
  before?: Date;
}

export interface VerdictCounts {
  /** Start of the bucket (bucketSeconds wide). */
  bucketStart: Date;
  clean: number;
  infected: number;
  unscannable: number;
  blocked: number;
}

export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  /** SHA-256 hex of the key: the key itself is never stored. */
  keyHash: string;
  /** First characters of the key, for people to tell keys apart. */
  prefix: string;
  createdAt: Date;
  revokedAt?: Date;
}

export interface CachedVerdict {
  sha256: string;
  /** The engine and signature versions the verdict was reached with (engine/verdict.ts verdictCacheKey). */
  cacheKey: string;
  result: ScanResult;
}

/**
 * The durable store behind the queue. Two implementations (SQLite, PostgreSQL) pass one contract
 * suite. Semantics: at-least-once with fencing — a job is leased with a random token and a lease
 * expiry; heartbeat, complete, retry and release all require the token and return false when the
 * lease was lost (expired and taken by another worker), so a stale worker can never overwrite a
 * newer attempt. A lease that expires puts the job back in the queue (attempt already counted).
 */
export interface JobStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Creates or migrates the schema. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Throws ScanGateError('store_unavailable') when the database cannot be reached. */
  ping(): Promise<void>;

  /**
   * Persists a new queued job. Throws ScanGateError('duplicate_trace_id') when the tenant already has
   * a queued or running job with the same traceId. A finished job with the same traceId is replaced
   * as the answer to getJobByTraceId (the newest job wins).
   */
  submitJob(job: NewScanJob): Promise<ScanJob>;
  getJob(tenantId: string, jobId: string): Promise<ScanJob | undefined>;
  getJobByTraceId(tenantId: string, traceId: string): Promise<ScanJob | undefined>;
  listJobs(tenantId: string, filter: JobListFilter): Promise<ScanJob[]>;
  countVerdicts(tenantId: string, since: Date, bucketSeconds: number): Promise<VerdictCounts[]>;
  /** Jobs queued or running for this tenant (quota), or for everyone when tenantId is undefined. */
  countUnfinishedJobs(tenantId?: string): Promise<number>;
  /** Which of these job ids (any tenant) are queued or running: their staged uploads are still needed. */
  unfinishedJobIds(jobIds: readonly string[]): Promise<Set<string>>;

  /**
   * Leases a job whose nextAttemptAt has passed (queued, or running with an expired lease), picked
   * fairly across tenants: from the tenant with the fewest jobs running now (then the oldest due
   * job first), so a tenant's backlog never queues another tenant's job behind it. A tenant with
   * `maxRunningPerTenant` jobs running (0 = no limit) gets no more until one finishes.
   */
  leaseNextJob(leaseMs: number, options?: LeaseOptions): Promise<LeasedJob | undefined>;
  extendJobLease(jobId: string, leaseToken: string, leaseMs: number): Promise<boolean>;
  /**
   * Stores the result and, in the same transaction, the callback delivery (outbox): a crash between
   * the two cannot lose the callback.
   */
  completeJob(
    jobId: string,
    leaseToken: string,
    result: ScanResult,
    delivery?: NewCallbackDelivery,
  ): Promise<boolean>;
  /** Puts the job back in the queue until retryAt, recording why. */
  retryJob(jobId: string, leaseToken: string, error: string, retryAt: Date): Promise<boolean>;
  /** Gives a lease back without counting the attempt (graceful shutdown). */
  releaseJob(jobId: string, leaseToken: string): Promise<boolean>;

  leaseNextDelivery(leaseMs: number): Promise<LeasedDelivery | undefined>;
  markDeliveryDelivered(deliveryId: string, leaseToken: string, statusCode: number): Promise<boolean>;
  retryDelivery(
    deliveryId: string,
    leaseToken: string,
    error: string,
    statusCode: number | undefined,
    retryAt: Date,
  ): Promise<boolean>;
  failDelivery(
    deliveryId: string,
    leaseToken: string,
    error: string,
    statusCode: number | undefined,
  ): Promise<boolean>;
  releaseDelivery(deliveryId: string, leaseToken: string): Promise<boolean>;
  getDeliveriesForJob(tenantId: string, jobId: string): Promise<CallbackDelivery[]>;
  /** The tenant's deliveries to `callbackUrl` that failed for good, newest first. */
  listFailedDeliveries(
    tenantId: string,
    callbackUrl: string,
    limit: number,
    cursor?: string,
  ): Promise<FailedDeliveryPage>;

  /**
   * Deletes finished jobs completed before `completedBefore` whose deliveries are no longer pending,
   * with their deliveries; and cached verdicts older than the same instant.
   */
  sweepExpired(completedBefore: Date): Promise<{ jobs: number; deliveries: number }>;

  getCachedVerdict(sha256: string, cacheKey: string): Promise<ScanResult | undefined>;
  putCachedVerdict(entry: CachedVerdict): Promise<void>;

  createApiKey(record: ApiKeyRecord): Promise<void>;
  findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  revokeApiKey(id: string): Promise<boolean>;
  /** One Standard Webhooks secret per tenant, created on first use and kept. */
  getOrCreateWebhookSecret(tenantId: string, create: () => string): Promise<string>;

  /** The tenant's content policy; undefined means the default policy (docs/POLICY.md). */
  getTenantPolicy(tenantId: string): Promise<ContentPolicy | undefined>;
  /** Replaces the tenant's content policy; undefined goes back to the default. */
  setTenantPolicy(tenantId: string, policy: ContentPolicy | undefined): Promise<void>;
}

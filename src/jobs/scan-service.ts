import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type ErrorCode, ScanGateError } from '../errors.ts';
import { type ContentPolicy, DEFAULT_POLICY, effectivePolicy, isDefaultPolicy } from '../policy/policy.ts';
import type {
  CallbackDelivery,
  CallbackTarget,
  Dialect,
  FailedDeliveryPage,
  JobListFilter,
  NewScanJob,
  ScanJob,
  ScanResult,
  ScanSource,
} from '../scan.ts';
import type { ScanEvents } from '../scan-events.ts';
import type { BlobStore } from '../sources/blobs/blob-store.ts';
import { stageUpload } from '../sources/upload-staging.ts';
import type { Store, SubmitOutcome } from '../store/contracts.ts';
import type { BucketGrants } from './buckets/grants.ts';
import { verdictForFailure } from './failure-verdict.ts';
import { GroupCommit } from './group-commit.ts';
import { runScan, type ScanRunnerDependencies, scanStream } from './scan-runner.ts';
import { bucketSecondsFor, type ScanStats, totalsOf, verdictTimeline } from './scan-stats.ts';

const REQUEST_BODY_ERRORS: ReadonlySet<ErrorCode> = new Set([
  'invalid_request',
  'payload_too_large',
  'empty_file',
]);

/** Sync failures answered as errors rather than as a `no` verdict: the request or server setup is at fault. */
const SYNC_REFUSALS: ReadonlySet<ErrorCode> = new Set(['blocked_destination', 's3_not_configured']);

export interface SubmitRequest {
  dialect: Dialect;
  source: Exclude<ScanSource, { kind: 'upload' }>;
  traceId?: string;
  callback?: CallbackTarget;
  customData?: string;
  /** A content policy the request asks for (preset name or document); only narrower than the tenant's. */
  policy?: unknown;
}

export interface UploadRequest {
  dialect: Dialect;
  filename?: string;
  traceId?: string;
  callback?: CallbackTarget;
  customData?: string;
  policy?: unknown;
}

/** Who a synchronous scan is for: the tenant (whose policy applies), its request's policy, the file's name. */
export interface SyncScope {
  tenantId: string;
  policy?: unknown;
  filename?: string;
}

export interface ScanServiceDependencies extends ScanRunnerDependencies {
  blobs: BlobStore;
  /** Pending jobs one tenant may have at once (0 = unlimited). */
  maxUnfinishedJobsPerTenant: number;
  /** Uploads up to this size are stored with their job instead of staged in the blob store. */
  inlineUploadMaxBytes: number;
  /** Tells local workers that a job is waiting (absent on API-only nodes). */
  notifyWorkers?: () => void;
  /** Told of every synchronous verdict (scan:finished). */
  events?: ScanEvents;
  /** When BUCKET_GRANTS is set, single-object S3 scans are held to it too (else any bucket, as before). */
  bucketGrants?: BucketGrants;
}

/** What the HTTP layer asks of the job system: submit, stage uploads, scan now, read results and stats. */
export class ScanService {
  readonly #deps: ScanServiceDependencies;
  /** The tail of each tenant's admission queue (only while submissions are in flight). */
  readonly #admissions = new Map<string, Promise<void>>();
  /**
   * Submissions that arrive together are stored in one transaction (one commit, one fsync); each
   * request is answered only after the commit that holds its job, so a 201/202 still means the job
   * survives a kill -9.
   */
  readonly #submissions: GroupCommit<NewScanJob, SubmitOutcome>;

  constructor(dependencies: ScanServiceDependencies) {
    this.#deps = dependencies;
    this.#submissions = new GroupCommit((jobs) => dependencies.store.jobs.submitMany(jobs));
  }

  /** Which database backs the service (readiness report). */
  get storeKind(): Store['kind'] {
    return this.#deps.store.kind;
  }

  /** Throws store_unavailable when the database cannot be reached. */
  async pingStore(): Promise<void> {
    await this.#deps.store.ping();
  }

  /** One of the tenant's scans; throws not_found when the tenant has no scan with this id. */
  async getScan(tenantId: string, id: string): Promise<ScanJob> {
    const job = await this.#deps.store.jobs.get(tenantId, id);
    if (!job) throw new ScanGateError('not_found', 'scan not found');
    return job;
  }

  /** The callback deliveries of one of the tenant's scans, oldest first. */
  async deliveriesOf(tenantId: string, jobId: string): Promise<CallbackDelivery[]> {
    return this.#deps.store.outbox.listForJob(tenantId, jobId);
  }

  /** The tenant's callbacks to `callbackUrl` that failed for good, newest first, a page at a time. */
  async failedCallbacks(
    tenantId: string,
    callbackUrl: string,
    limit: number,
    cursor?: string,
  ): Promise<FailedDeliveryPage> {
    return this.#deps.store.outbox.listFailed(tenantId, callbackUrl, limit, cursor);
  }

  /** The tenant's newest scan with this trace id, if any. */
  async findByTraceId(tenantId: string, traceId: string): Promise<ScanJob | undefined> {
    return this.#deps.store.jobs.getByTraceId(tenantId, traceId);
  }

  async listScans(tenantId: string, filter: JobListFilter): Promise<ScanJob[]> {
    return this.#deps.store.jobs.list(tenantId, filter);
  }

  /** The tenant's verdicts over the last `hours`, bucketed for a chart, and what is pending now. */
  async stats(tenantId: string, hours: number, now = new Date()): Promise<ScanStats> {
    const bucketSeconds = bucketSecondsFor(hours);
    const since = new Date(now.getTime() - hours * 3600_000);
    const [counts, pending] = await Promise.all([
      this.#deps.store.jobs.countVerdicts(tenantId, since, bucketSeconds),
      this.#deps.store.jobs.countUnfinished(tenantId),
    ]);
    const buckets = verdictTimeline(counts, since, now, bucketSeconds);
    return { bucketSeconds, buckets, totals: totalsOf(buckets), pending };
  }

  /** The tenant's own content policy; undefined is the default policy (docs/POLICY.md). */
  async tenantPolicy(tenantId: string): Promise<ContentPolicy | undefined> {
    return this.#deps.store.policies.get(tenantId);
  }

  /** Replaces the tenant's content policy; the default one is stored as no policy. */
  async setTenantPolicy(tenantId: string, policy: ContentPolicy): Promise<void> {
    await this.#deps.store.policies.set(tenantId, isDefaultPolicy(policy) ? undefined : policy);
  }

  /**
   * The content policy in force for a request: the tenant's, narrowed by the request's own (a wider
   * one is refused with policy_wider_than_tenant). Undefined when it is the default policy.
   */
  async policyFor(tenantId: string, requested: unknown): Promise<ContentPolicy | undefined> {
    const tenant = (await this.#deps.store.policies.get(tenantId)) ?? DEFAULT_POLICY;
    const policy = effectivePolicy(tenant, requested);
    return isDefaultPolicy(policy) ? undefined : policy;
  }

  async submit(tenantId: string, request: SubmitRequest): Promise<ScanJob> {
    this.checkGranted(tenantId, request.source);
    if (request.source.kind === 's3') await this.#deps.sources.assertS3Configured();
    const policy = await this.policyFor(tenantId, request.policy);
    const job = await this.#admit(tenantId, () =>
      this.#queue({
        id: randomUUID(),
        tenantId,
        dialect: request.dialect,
        source: request.source,
        traceId: request.traceId,
        callback: request.callback,
        customData: request.customData,
        policy,
      }),
    );
    this.#deps.notifyWorkers?.();
    return job;
  }

  /** Throws bucket_not_granted for an S3 object outside the tenant's grants (when grants are configured). */
  checkGranted(tenantId: string, source: ScanSource): void {
    if (source.kind === 's3') this.#deps.bucketGrants?.check(tenantId, source.bucket, source.key);
  }

  /**
   * Stages an upload (small ones inline with the job, others streamed into the blob store), then
   * queues it; a staged blob is removed if queueing fails.
   */
  async submitUpload(tenantId: string, input: Readable, request: UploadRequest): Promise<ScanJob> {
    // Refused before a byte is staged: a request that widens the tenant's policy gets no job.
    const policy = await this.policyFor(tenantId, request.policy);
    await this.#checkQuota(tenantId);
    const id = randomUUID();
    const staged = await stageUpload(input, {
      blobs: this.#deps.blobs,
      key: id,
      maxBytes: this.#deps.maxFileSizeBytes,
      inlineMaxBytes: this.#deps.inlineUploadMaxBytes,
    });
    const source: ScanSource = {
      kind: 'upload',
      blobKey: staged.inline ? id : staged.blobKey,
      size: staged.size,
      sha256: staged.sha256,
    };
    if (staged.inline) source.inline = true;
    if (request.filename) source.filename = request.filename;
    try {
      // Checked again now: parallel uploads all passed the first check before any was queued.
      const job = await this.#admit(tenantId, () =>
        this.#queue({
          id,
          tenantId,
          dialect: request.dialect,
          source,
          traceId: request.traceId,
          callback: request.callback,
          customData: request.customData,
          policy,
          uploadBytes: staged.inline,
        }),
      );
      this.#deps.notifyWorkers?.();
      return job;
    } catch (error) {
      if (!staged.inline) await this.#deps.blobs.delete(staged.blobKey).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Synchronous scan: the verdict in the response. Transient failures (engine down) are thrown so the
   * client sees 503 and can retry; a refused destination is thrown (400); every other failure is an
   * unscannable verdict.
   */
  async scanSourceNow(source: ScanSource, signal: AbortSignal, scope: SyncScope): Promise<ScanResult> {
    const policy = (await this.policyFor(scope.tenantId, scope.policy)) ?? DEFAULT_POLICY;
    const started = performance.now();
    const result = await runScan(source, this.#deps, signal, policy).catch((error) =>
      this.#judgeSyncFailure(error),
    );
    this.#deps.events?.emit('scan:finished', {
      source: source.kind,
      result,
      durationMs: performance.now() - started,
    });
    return result;
  }

  async scanStreamNow(input: Readable, signal: AbortSignal, scope: SyncScope): Promise<ScanResult> {
    const policy = await this.policyFor(scope.tenantId, scope.policy).catch((error: unknown) => {
      input.destroy();
      throw error;
    });
    const started = performance.now();
    // Not written to the verdict cache: a sync stream's sha256 is known only after the scan, so sync
    // scans never read the cache, and the write would cost every sync scan a store round trip.
    const context = { policy: policy ?? DEFAULT_POLICY, declaredName: scope.filename || undefined };
    const result = await scanStream(input, { ...this.#deps, verdictCache: false }, signal, context).catch(
      (error) => {
        // The request body itself was refused (a second file, a malformed form): the client's error, not a verdict.
        if (error instanceof ScanGateError && REQUEST_BODY_ERRORS.has(error.code)) throw error;
        return this.#judgeSyncFailure(error);
      },
    );
    this.#deps.events?.emit('scan:finished', {
      source: 'upload',
      result,
      durationMs: performance.now() - started,
    });
    return result;
  }

  #judgeSyncFailure(error: unknown): ScanResult {
    if (error instanceof ScanGateError && (error.retryable || SYNC_REFUSALS.has(error.code))) throw error;
    const verdict = verdictForFailure(error, 0);
    if (verdict === 'retry') throw error;
    return verdict;
  }

  async #queue(job: NewScanJob): Promise<ScanJob> {
    const outcome = await this.#submissions.add(job);
    if (!outcome.job) throw outcome.error;
    return outcome.job;
  }

  /**
   * Quota check and insert as one step per tenant in this process: otherwise parallel submissions
   * all count the same unfinished jobs and all pass. (Several API nodes can still overshoot by
   * the submissions in flight at once; the store does not enforce the quota.)
   */
  async #admit(tenantId: string, insert: () => Promise<ScanJob>): Promise<ScanJob> {
    if (this.#deps.maxUnfinishedJobsPerTenant <= 0) return insert();
    const previous = this.#admissions.get(tenantId) ?? Promise.resolve();
    const admission = previous.then(async () => {
      await this.#checkQuota(tenantId);
      return insert();
    });
    const settled = admission.then(
      () => undefined,
      () => undefined,
    );
    this.#admissions.set(tenantId, settled);
    try {
      return await admission;
    } finally {
      if (this.#admissions.get(tenantId) === settled) this.#admissions.delete(tenantId);
    }
  }

  async #checkQuota(tenantId: string): Promise<void> {
    const limit = this.#deps.maxUnfinishedJobsPerTenant;
    if (limit <= 0) return;
    const unfinished = await this.#deps.store.jobs.countUnfinished(tenantId);
    if (unfinished >= limit) {
      throw new ScanGateError(
        'quota_exceeded',
        `${unfinished} scans are still pending for this key (limit ${limit})`,
        {
          details: { limit },
        },
      );
    }
  }
}

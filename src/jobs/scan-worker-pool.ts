import type { Config } from '../config.ts';
import { callbackDeliveryFor } from '../dialects/callback.ts';
import { messageOf } from '../errors.ts';
import { LeaseLoop } from '../lease-loop.ts';
import type { Logger } from '../logger.ts';
import type { ScanResult } from '../scan.ts';
import type { ScanEvents } from '../scan-events.ts';
import type { BlobStore } from '../sources/blobs/blob-store.ts';
import type { CachedVerdict, JobCompletion, LeasedJob } from '../store/contracts.ts';
import { retryDelayMs } from './backoff.ts';
import { verdictForFailure } from './failure-verdict.ts';
import { GroupCommit } from './group-commit.ts';
import { runScan, type ScanRunnerDependencies, type VerdictCacheAccess } from './scan-runner.ts';

export interface ScanWorkerDependencies extends ScanRunnerDependencies {
  blobs: BlobStore;
  jobs: Config['jobs'];
  logger: Logger;
  /** Told of every finished job, retry and stored callback (scan:finished, scan:retried, callback:queued). */
  events?: ScanEvents;
}

/** A leased job and the verdict cache key its lease looked its bytes up under. */
interface LeasedScan extends LeasedJob {
  verdictCacheKey: string | undefined;
}

class ShutdownAbort extends Error {
  override name = 'ShutdownAbort';
}

/**
 * Runs `workerConcurrency` scan loops over the job store. Each leased job keeps its lease alive by
 * heartbeat while its bytes stream through the engine; losing the lease aborts the scan, because
 * another worker now owns the job and only its verdict will be accepted.
 */
export class ScanWorkerPool {
  readonly #deps: ScanWorkerDependencies;
  readonly #running = new Map<string, AbortController>();
  readonly #loop: LeaseLoop<LeasedScan>;
  /** Jobs that finish together store their verdicts in one transaction. */
  readonly #completions: GroupCommit<JobCompletion, boolean>;
  #stopWatching: (() => void) | undefined;

  constructor(dependencies: ScanWorkerDependencies) {
    this.#deps = dependencies;
    const { jobs, store, logger } = dependencies;
    this.#loop = new LeaseLoop({
      concurrency: jobs.workerConcurrency,
      pollIntervalMs: jobs.pollIntervalMs,
      leaseErrorDelayMs: Math.max(jobs.pollIntervalMs, 500),
      // Every free slot in one transaction; each leased upload brings its cached verdict, if any.
      lease: async (free) => {
        const verdictCacheKey = await this.#verdictCacheKey();
        const leased = await store.jobs.leaseMany(jobs.leaseMs, free, {
          maxRunningPerTenant: jobs.maxRunningPerTenant,
          verdictCacheKey,
        });
        return leased.map((one) => ({ ...one, verdictCacheKey }));
      },
      handle: (leased) => this.#process(leased),
      onLeaseError: (error) => logger.error({ err: error }, 'cannot lease jobs; retrying'),
    });
    // A busy worker's next jobs are leased in the transaction that stores the verdicts of the jobs
    // before them (one write transaction per finished batch, not two).
    this.#completions = new GroupCommit((completions) =>
      this.#loop.leaseAlong(completions.length, async (max) => {
        if (max === 0) return { result: await store.jobs.completeMany(completions), leased: [] };
        const verdictCacheKey = await this.#verdictCacheKey();
        const { stored, leased } = await store.jobs.completeAndLease(completions, {
          leaseMs: jobs.leaseMs,
          max,
          options: { maxRunningPerTenant: jobs.maxRunningPerTenant, verdictCacheKey },
        });
        return { result: stored, leased: leased.map((one) => ({ ...one, verdictCacheKey })) };
      }),
    );
  }

  get activeJobs(): number {
    return this.#running.size;
  }

  start(): void {
    this.#stopWatching ??= this.#deps.store.watchWork('jobs', () => this.#loop.wake());
    this.#loop.start();
  }

  /** Called after a submit in this process so an idle worker starts without waiting for its poll. */
  wake(): void {
    this.#loop.wake();
  }

  /** Stops leasing; running jobs get `graceMs` to finish, then are aborted and released. */
  async stop(graceMs = this.#deps.jobs.shutdownGraceMs): Promise<void> {
    this.#stopWatching?.();
    this.#stopWatching = undefined;
    await this.#loop.stop(graceMs, () => {
      for (const controller of this.#running.values()) controller.abort(new ShutdownAbort('shutting down'));
    });
  }

  /** The key the lease looks cached verdicts up under; none when the engine cannot tell it now. */
  async #verdictCacheKey(): Promise<string | undefined> {
    if (!this.#deps.verdictCache) return undefined;
    return this.#deps.engine.verdictCacheKey().catch(() => undefined);
  }

  async #process({ job, leaseToken, cachedResult, verdictCacheKey }: LeasedScan): Promise<void> {
    const { store, logger, jobs } = this.#deps;
    const started = performance.now();
    const controller = new AbortController();
    this.#running.set(job.id, controller);
    const heartbeat = setInterval(
      () => {
        store.jobs.extendLease(job.id, leaseToken, jobs.leaseMs).then(
          (kept) => {
            if (!kept) controller.abort(new Error('lease lost to another worker'));
          },
          (error: unknown) => logger.warn({ err: error, jobId: job.id }, 'heartbeat failed'),
        );
      },
      Math.max(250, Math.floor(jobs.leaseMs / 3)),
    );
    const log = { jobId: job.id, tenantId: job.tenantId, attempt: job.attempts };
    let verdictCacheEntry: CachedVerdict | undefined;
    const cacheAccess: VerdictCacheAccess = {
      lookup: verdictCacheKey ? { cacheKey: verdictCacheKey, result: cachedResult } : undefined,
      remember: (entry) => {
        verdictCacheEntry = entry;
      },
    };
    try {
      let result: ScanResult;
      try {
        result = await runScan(
          job.source,
          this.#deps,
          controller.signal,
          job.policy,
          job.uploadBytes,
          cacheAccess,
        );
      } catch (error) {
        if (controller.signal.aborted) {
          if (controller.signal.reason instanceof ShutdownAbort) {
            await store.jobs.release(job.id, leaseToken);
            logger.info(log, 'job released at shutdown');
          } else logger.warn({ ...log, err: error }, 'job abandoned: lease lost');
          return;
        }
        const decision = verdictForFailure(error, jobs.maxAttempts - job.attempts);
        if (decision === 'retry') {
          const retryAt = new Date(
            Date.now() +
              retryDelayMs(job.attempts, { baseMs: jobs.retryBaseDelayMs, maxMs: jobs.retryMaxDelayMs }),
          );
          if (await store.jobs.retry(job.id, leaseToken, messageOf(error), retryAt))
            this.#loop.wakeAt(retryAt);
          logger.warn({ ...log, err: error, retryAt }, 'scan attempt failed; will retry');
          this.#deps.events?.emit('scan:retried', { jobId: job.id, error });
          return;
        }
        result = decision;
      }
      const delivery = callbackDeliveryFor(job, result);
      const stored = await this.#completions.add({
        jobId: job.id,
        leaseToken,
        result,
        delivery,
        verdictCacheEntry,
      });
      if (!stored) {
        logger.warn(log, 'verdict discarded: lease lost before it was stored');
        return;
      }
      if (delivery) this.#deps.events?.emit('callback:queued', { jobId: job.id });
      logger.info(
        { ...log, status: result.status, finding: result.finding, reason: result.reason },
        'scan finished',
      );
      this.#deps.events?.emit('scan:finished', {
        source: job.source.kind,
        result,
        durationMs: performance.now() - started,
      });
      if (job.source.kind === 'upload' && !job.source.inline) {
        await this.#deleteStagedUpload(job.source.blobKey, job.id);
      }
    } catch (error) {
      logger.error(
        { ...log, err: error },
        'job processing failed; its lease will expire and it will run again',
      );
    } finally {
      clearInterval(heartbeat);
      this.#running.delete(job.id);
    }
  }

  async #deleteStagedUpload(blobKey: string, jobId: string): Promise<void> {
    try {
      await this.#deps.blobs.delete(blobKey);
    } catch (error) {
      this.#deps.logger.warn(
        { err: error, jobId, blobKey },
        'staged upload not deleted; the orphan sweep will',
      );
    }
  }
}

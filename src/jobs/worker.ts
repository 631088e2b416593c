import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import { callbackDeliveryFor } from '../delivery/payload.ts';
import type { BlobStore } from '../sources/blob-store.ts';
import { retryDelayMs } from './backoff.ts';
import { verdictForFailure } from './failure-verdict.ts';
import type { LeasedJob, ScanJob, ScanResult } from './model.ts';
import { runScan, type ScanRunnerDependencies } from './scan-runner.ts';

export interface WorkerLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface ScanWorkerDependencies extends ScanRunnerDependencies {
  blobs: BlobStore;
  jobs: Config['jobs'];
  logger: WorkerLogger;
  /** Observes every finished job (metrics). */
  onJobFinished?: (job: ScanJob, result: ScanResult, durationMs: number) => void;
  onJobRetried?: (job: ScanJob, error: unknown) => void;
  /** A callback was stored with the verdict: local delivery can start now instead of at its next poll. */
  onCallbackQueued?: () => void;
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
  #loops: Promise<void>[] = [];
  #stopping = false;
  #wakeUp: (() => void) | undefined;

  constructor(dependencies: ScanWorkerDependencies) {
    this.#deps = dependencies;
  }

  get activeJobs(): number {
    return this.#running.size;
  }

  start(): void {
    for (let slot = 0; slot < this.#deps.jobs.workerConcurrency; slot++) this.#loops.push(this.#loop());
  }

  /** Called after a submit in this process so an idle worker starts without waiting for its poll. */
  wake(): void {
    this.#wakeUp?.();
  }

  /** Stops leasing; running jobs get `graceMs` to finish, then are aborted and released. */
  async stop(graceMs = this.#deps.jobs.shutdownGraceMs): Promise<void> {
    this.#stopping = true;
    this.wake();
    const finished = Promise.all(this.#loops);
    const timer = sleep(graceMs, 'timeout' as const, { ref: false });
    if ((await Promise.race([finished.then(() => 'done' as const), timer])) === 'timeout') {
      for (const controller of this.#running.values()) controller.abort(new ShutdownAbort('shutting down'));
      await finished;
    }
  }

  async #idle(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wakeUp = resolve;
    const timer = setTimeout(resolve, this.#deps.jobs.pollIntervalMs);
    await promise;
    clearTimeout(timer);
    if (this.#wakeUp === resolve) this.#wakeUp = undefined;
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      let leased: LeasedJob | undefined;
      try {
        leased = await this.#deps.store.leaseNextJob(this.#deps.jobs.leaseMs, {
          maxRunningPerTenant: this.#deps.jobs.maxRunningPerTenant,
        });
      } catch (error) {
        this.#deps.logger.error({ err: error }, 'cannot lease jobs; retrying');
        await sleep(Math.max(this.#deps.jobs.pollIntervalMs, 500));
        continue;
      }
      if (leased) await this.#process(leased);
      else await this.#idle();
    }
  }

  async #process({ job, leaseToken }: LeasedJob): Promise<void> {
    const { store, logger, jobs } = this.#deps;
    const started = performance.now();
    const controller = new AbortController();
    this.#running.set(job.id, controller);
    const heartbeat = setInterval(
      () => {
        store.extendJobLease(job.id, leaseToken, jobs.leaseMs).then(
          (kept) => {
            if (!kept) controller.abort(new Error('lease lost to another worker'));
          },
          (error: unknown) => logger.warn({ err: error, jobId: job.id }, 'heartbeat failed'),
        );
      },
      Math.max(250, Math.floor(jobs.leaseMs / 3)),
    );
    const log = { jobId: job.id, tenantId: job.tenantId, attempt: job.attempts };
    try {
      let result: ScanResult;
      try {
        result = await runScan(job.source, this.#deps, controller.signal, job.policy);
      } catch (error) {
        if (controller.signal.aborted) {
          if (controller.signal.reason instanceof ShutdownAbort) {
            await store.releaseJob(job.id, leaseToken);
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
          await store.retryJob(job.id, leaseToken, (error as Error).message ?? String(error), retryAt);
          logger.warn({ ...log, err: error, retryAt }, 'scan attempt failed; will retry');
          this.#deps.onJobRetried?.(job, error);
          return;
        }
        result = decision;
      }
      const delivery = callbackDeliveryFor(job, result);
      const stored = await store.completeJob(job.id, leaseToken, result, delivery);
      if (!stored) {
        logger.warn(log, 'verdict discarded: lease lost before it was stored');
        return;
      }
      if (delivery) this.#deps.onCallbackQueued?.();
      logger.info(
        { ...log, status: result.status, finding: result.finding, reason: result.reason },
        'scan finished',
      );
      this.#deps.onJobFinished?.(job, result, performance.now() - started);
      if (job.source.kind === 'upload') await this.#deleteStagedUpload(job.source.blobKey, job.id);
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

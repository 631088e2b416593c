import type { Logger } from '../logger.ts';
import type { BlobStore } from '../sources/blobs/blob-store.ts';
import type { JobQueueStore } from '../store/contracts.ts';

export interface RetentionSweeperDependencies {
  jobs: JobQueueStore;
  retentionSeconds: number;
  intervalMs: number;
  logger: Logger;
  /** The staging store, swept of uploads no unfinished job needs (absent: nothing staged). */
  blobs?: BlobStore;
}

/** Deletes results once they are older than the retention period (bucketAV keeps them 24 h). */
export class RetentionSweeper {
  readonly #jobs: JobQueueStore;
  readonly #retentionSeconds: number;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #blobs: BlobStore | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Staged blobs no unfinished job needed at the last sweep. */
  #orphanSuspects = new Set<string>();

  constructor(deps: RetentionSweeperDependencies) {
    this.#jobs = deps.jobs;
    this.#retentionSeconds = deps.retentionSeconds;
    this.#intervalMs = deps.intervalMs;
    this.#logger = deps.logger;
    this.#blobs = deps.blobs;
  }

  start(): void {
    this.#timer = setInterval(() => void this.sweepOnce(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async sweepOnce(): Promise<void> {
    try {
      const cutoff = new Date(Date.now() - this.#retentionSeconds * 1000);
      const removed = await this.#jobs.sweepExpired(cutoff);
      if (removed.jobs > 0 || removed.deliveries > 0) this.#logger.info(removed, 'expired results removed');
      if (this.#blobs) await this.#sweepOrphanBlobs(this.#blobs);
    } catch (error) {
      this.#logger.error({ err: error }, 'retention sweep failed; next interval retries');
    }
  }

  /**
   * A staged upload outlives its job only after a crash between storing the verdict and deleting
   * the blob. A blob is deleted once two sweeps in a row found no unfinished job for it: the gap
   * covers an upload that was staged but whose job was not yet inserted at the first look.
   */
  async #sweepOrphanBlobs(blobs: BlobStore): Promise<void> {
    const keys = await blobs.list();
    const needed = await this.#jobs.unfinishedIds(keys);
    const suspects = new Set<string>();
    let deleted = 0;
    for (const key of keys) {
      if (needed.has(key)) continue;
      if (this.#orphanSuspects.has(key)) {
        await blobs.delete(key);
        deleted++;
      } else suspects.add(key);
    }
    this.#orphanSuspects = suspects;
    if (deleted > 0) this.#logger.info({ deleted }, 'orphaned staged uploads removed');
  }
}

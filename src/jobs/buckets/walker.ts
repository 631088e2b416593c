import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BucketObject, BucketScan, LeasedBucketScan, SightedObject } from '../../bucket-scan.ts';
import type { ScanGateError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { ScanEvents } from '../../scan-events.ts';
import type { BucketScanStore, JobQueueStore } from '../../store/contracts.ts';
import { type ListedEntry, type ListedPage, listPage } from './listing.ts';
import type { ObjectActions } from './object-actions.ts';
import { settleObject } from './settle.ts';

export interface BucketWalkerSettings {
  /** Objects per listing page (S3's maximum is 1000). */
  pageSize: number;
  /** Objects of one scan listed but not settled at most: the listing waits for the scans to catch up. */
  window: number;
  leaseMs: number;
  /** Pause of a scan that had nothing to do, and of the walker when no scan had. */
  idleMs: number;
  /**
   * The longest pause of a walker that found no scan to lease: it sleeps until the next running
   * scan is due, or this long when none runs. New scans wake it at once (in-process, or by a
   * notification from another process).
   */
  maxIdleMs: number;
  /** Objects whose actions run at once within one scan. */
  settleConcurrency: number;
  /** Scans of one object that keeps changing before it is given up as failed. */
  maxScansPerObject: number;
  /** A watch lists objects modified since the newest seen minus this much. */
  watchMarginMs: number;
  /** Ended scans and settled inbox/watch objects are deleted this long after (RESULT_RETENTION_SECONDS). */
  retentionMs: number;
  sweepIntervalMs: number;
}

/** The shortest pause before leasing again: a scan due "now" is not asked for in a tight loop. */
const MIN_PAUSE_MS = 10;

export const DEFAULT_WALKER_SETTINGS: BucketWalkerSettings = {
  pageSize: 1000,
  window: 2000,
  leaseMs: 30_000,
  idleMs: 500,
  maxIdleMs: 30_000,
  settleConcurrency: 8,
  maxScansPerObject: 3,
  watchMarginMs: 5 * 60_000,
  retentionMs: 24 * 3_600_000,
  sweepIntervalMs: 60_000,
};

export interface BucketWalkerDependencies {
  buckets: BucketScanStore;
  jobs: JobQueueStore;
  s3: S3Client;
  actions: ObjectActions;
  settings: BucketWalkerSettings;
  logger: Logger;
  /** Local scan workers start at once on submitted jobs instead of at their next poll. */
  notifyWorkers?: () => void;
  /** Where objects listed, queued and settled and the actions taken are reported (metrics). */
  events?: ScanEvents;
  /** Subscribes to scans announced by other processes (Store.watchWork('buckets', …)). */
  watchWork?: (wake: () => void) => () => void;
}

/** What one sighting of a listed object is, per scan kind: a watch sees unchanged objects again. */
function listedSighting(scan: BucketScan, entry: ListedEntry): SightedObject {
  // A versioned scan pins each job to the version listed; a watch tells changed objects by version or ETag.
  const identity = entry.versionId ?? entry.etag ?? '';
  const sighting: SightedObject = {
    key: entry.key,
    size: entry.size,
    dedupeKey: scan.origin === 'watch' ? JSON.stringify([entry.key, identity]) : entry.key,
    jobId: randomUUID(),
  };
  if (entry.etag) sighting.etag = entry.etag;
  if (entry.versionId) sighting.versionId = entry.versionId;
  return sighting;
}

/**
 * Drives bucket scans: one walker per worker process leases a scan at a time, does a bounded step
 * of its work — submit recorded objects as jobs, act on finished verdicts, list the next page —
 * and gives the lease back, so every running scan (on every node) advances in turn.
 *
 * Exactly one verdict per object across crashes: each page is recorded with the cursor of the next
 * in one transaction, and an object's job id is chosen when it is recorded, so after a kill -9 the
 * walker lists from the stored cursor, re-submits only objects whose job does not exist yet, and
 * settles each object once (a settled object is never settled again).
 */
export class BucketScanWalker {
  readonly #deps: BucketWalkerDependencies;
  #loop: Promise<void> | undefined;
  #stopping = false;
  #wakeUp: (() => void) | undefined;
  #stopWatching: (() => void) | undefined;

  constructor(dependencies: BucketWalkerDependencies) {
    this.#deps = dependencies;
  }

  start(): void {
    this.#stopWatching ??= this.#deps.watchWork?.(() => this.wake());
    this.#loop ??= this.#run();
  }

  wake(): void {
    this.#wakeUp?.();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#stopWatching?.();
    this.#stopWatching = undefined;
    this.wake();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { buckets, settings, logger } = this.#deps;
    let nextSweep = Date.now();
    while (!this.#stopping) {
      if (Date.now() >= nextSweep) {
        nextSweep = Date.now() + settings.sweepIntervalMs;
        await buckets
          .sweepExpired(new Date(Date.now() - settings.retentionMs))
          .catch((error: unknown) => logger.warn({ err: error }, 'bucket scan retention sweep failed'));
      }
      let leased: LeasedBucketScan | undefined;
      try {
        leased = await buckets.leaseScan(settings.leaseMs);
      } catch (error) {
        logger.error({ err: error }, 'cannot lease bucket scans; retrying');
      }
      if (!leased) {
        await this.#idle(await this.#pauseWithoutScan());
        continue;
      }
      let busy = false;
      try {
        busy = await this.step(leased);
      } catch (error) {
        logger.warn(
          { err: error, bucketScanId: leased.scan.id },
          'bucket scan step failed; it will be retried',
        );
      }
      await buckets
        .releaseScan(leased.scan.id, leased.leaseToken, busy ? 0 : settings.idleMs)
        .catch((error: unknown) =>
          logger.warn({ err: error }, 'bucket scan lease not released; it will expire'),
        );
    }
  }

  /**
   * How long to sleep after a lease found nothing: until the next running scan is due (its walker
   * released it for a while, or holds it and may die), or `maxIdleMs` when no scan runs, so a walker
   * without scans costs the store almost nothing.
   */
  async #pauseWithoutScan(): Promise<number> {
    const { idleMs, maxIdleMs } = this.#deps.settings;
    try {
      const due = await this.#deps.buckets.nextScanDueAt();
      if (!due) return maxIdleMs;
      return Math.min(Math.max(due.getTime() - Date.now(), MIN_PAUSE_MS), maxIdleMs);
    } catch (error) {
      this.#deps.logger.warn({ err: error }, 'cannot read when the next bucket scan is due');
      return idleMs;
    }
  }

  /** Waits until woken or `pauseMs` has passed. */
  async #idle(pauseMs: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wakeUp = resolve;
    const timer = setTimeout(resolve, pauseMs);
    await promise;
    clearTimeout(timer);
    this.#wakeUp = undefined;
  }

  /** One bounded step on a leased scan; true when it did some work (come back soon). */
  async step({ scan, leaseToken }: LeasedBucketScan): Promise<boolean> {
    const { buckets, settings } = this.#deps;
    const deadline = Date.now() + settings.leaseMs / 2;
    let busy = false;
    if (!scan.paused) busy = (await this.#submitRecorded(scan, settings.pageSize)) > 0 || busy;
    busy = (await this.#settleFinished(scan, leaseToken, deadline)) > 0 || busy;
    const outstanding = await buckets.countOutstanding(scan.id);
    if (!scan.paused && !scan.listingDone && outstanding < settings.window) {
      await this.#listPage(scan, leaseToken);
      return true;
    }
    if (scan.listingDone && outstanding === 0) {
      if (scan.origin === 'scan') {
        await buckets.finishScan(scan.id, leaseToken, 'done');
        this.#deps.logger.info({ bucketScanId: scan.id, counts: scan.counts }, 'bucket scan finished');
        return true;
      }
      if (scan.origin === 'watch' && !scan.paused && (scan.nextPassAt?.getTime() ?? 0) <= Date.now()) {
        await buckets.startWatchPass(
          scan.id,
          leaseToken,
          new Date(Date.now() + (scan.watchIntervalMs ?? 60_000)),
          settings.watchMarginMs,
        );
        return true;
      }
    }
    return busy;
  }

  /** Submits recorded objects as jobs; a job that exists already (crash after submit) is kept. */
  async #submitRecorded(scan: BucketScan, limit: number): Promise<number> {
    const { buckets } = this.#deps;
    const objects = await buckets.objectsToSubmit(scan.id, limit);
    if (objects.length === 0) return 0;
    for (const object of objects) await this.#submitJob(scan, object);
    await buckets.markSubmitted(
      scan.id,
      objects.map((object) => object.seq),
    );
    this.#deps.notifyWorkers?.();
    this.#deps.events?.emit('bucket:objects', { stage: 'queued', count: objects.length });
    return objects.length;
  }

  async #submitJob(scan: BucketScan, object: BucketObject): Promise<void> {
    const { jobs } = this.#deps;
    const source = {
      kind: 's3' as const,
      bucket: scan.bucket,
      key: object.key,
      ...(object.versionId ? { version: object.versionId } : {}),
    };
    try {
      await jobs.submit({ id: object.jobId, tenantId: scan.tenantId, dialect: 'native', source });
    } catch (error) {
      // The id was chosen when the object was recorded: if the job exists, an earlier run submitted it.
      if (await jobs.get(scan.tenantId, object.jobId)) return;
      throw error;
    }
  }

  async #settleFinished(scan: BucketScan, leaseToken: string, deadline: number): Promise<number> {
    const { buckets, settings } = this.#deps;
    let settled = 0;
    while (Date.now() < deadline) {
      const ready = await buckets.objectsToSettle(scan.id, settings.settleConcurrency * 4);
      if (ready.length === 0) break;
      const queue = [...ready];
      const workers = Array.from({ length: Math.min(settings.settleConcurrency, queue.length) }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          await settleObject(next, { scan, leaseToken, ...this.#deps });
          settled++;
        }
      });
      // Every worker finishes before the step ends (and the lease is given back): none may still be
      // acting on an object another step could pick up. The first failure is reported after.
      const failure = (await Promise.allSettled(workers)).find((outcome) => outcome.status === 'rejected');
      if (failure) throw failure.reason;
      if (ready.length < settings.settleConcurrency * 4) break;
    }
    return settled;
  }

  async #listPage(scan: BucketScan, leaseToken: string): Promise<void> {
    const { buckets, s3, settings, logger } = this.#deps;
    let page: ListedPage;
    try {
      page = await listPage(
        s3,
        { bucket: scan.bucket, prefix: scan.prefix, cursor: scan.cursor },
        settings.pageSize,
      );
    } catch (error) {
      const classified = error as ScanGateError;
      if (classified.retryable) throw classified;
      logger.warn(
        { bucketScanId: scan.id, err: classified },
        'bucket scan failed: the bucket cannot be listed',
      );
      await buckets.finishScan(scan.id, leaseToken, 'failed', `${classified.code}: ${classified.message}`);
      return;
    }
    const since = scan.since?.getTime();
    let highWater: Date | undefined;
    const sightings: SightedObject[] = [];
    for (const entry of page.entries) {
      const modified = entry.lastModified;
      if (modified && (!highWater || modified > highWater)) highWater = modified;
      if (since !== undefined && modified && modified.getTime() < since) continue;
      // A "folder" placeholder (key ending in / with no bytes) is not a file anyone uploaded.
      if (entry.key.endsWith('/') && entry.size === 0) continue;
      sightings.push(listedSighting(scan, entry));
    }
    const next: { cursor?: string; listingDone: boolean; highWater?: Date } = {
      listingDone: page.cursor === undefined,
    };
    if (page.cursor) next.cursor = page.cursor;
    if (highWater) next.highWater = highWater;
    if (!(await buckets.recordPage(scan.id, leaseToken, sightings, next))) return;
    this.#deps.events?.emit('bucket:objects', { stage: 'listed', count: sightings.length });
    // Submitted now rather than at the next step: the page's jobs start while the next page is listed.
    await this.#submitRecorded(scan, settings.pageSize);
  }
}

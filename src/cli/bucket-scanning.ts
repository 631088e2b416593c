import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { BucketScanService } from '../jobs/buckets/bucket-scan-service.ts';
import { BucketGrants } from '../jobs/buckets/grants.ts';
import type { BucketScanWalker } from '../jobs/buckets/walker.ts';
import type { ScanEvents } from '../scan-events.ts';
import type { LazyS3Client } from '../sources/s3/lazy-client.ts';
import type { JobQueueStore, Store } from '../store/contracts.ts';
import { openBucketScanStore } from '../store/open-store.ts';

export interface BucketScanning {
  service: BucketScanService;
  grants: BucketGrants;
  /** Present where scan workers run. */
  walker?: BucketScanWalker;
  close(): Promise<void>;
}

/**
 * Whether this process walks buckets. A bucket scan needs a grant (BUCKET_GRANTS), so a single
 * process (role all) without grants never has one to walk, and skips the walker and the S3 SDK it
 * loads. A worker-only process walks whatever its API processes queued: it cannot know their grants.
 */
function walksBuckets(config: Config, runWalker: boolean): boolean {
  return runWalker && (config.role === 'worker' || config.buckets.grants.length > 0);
}

/** Bucket scans for the composition root: their store, the walker (worker roles) and the API's service. */
export async function startBucketScanning(
  config: Config,
  jobs: JobQueueStore,
  logger: Logger,
  options: {
    runWalker: boolean;
    s3: LazyS3Client;
    notifyWorkers?: () => void;
    events?: ScanEvents;
    /** The job store's subscription to work announced by other processes. */
    watchWork?: Store['watchWork'];
  },
): Promise<BucketScanning> {
  const grants = new BucketGrants(config.buckets.grants);
  const buckets = await openBucketScanStore(config);
  let walker: BucketScanWalker | undefined;
  if (walksBuckets(config, options.runWalker)) {
    const [{ BucketScanWalker, DEFAULT_WALKER_SETTINGS }, { ObjectActions }, s3] = await Promise.all([
      import('../jobs/buckets/walker.ts'),
      import('../jobs/buckets/object-actions.ts'),
      options.s3(),
    ]);
    walker = new BucketScanWalker({
      buckets,
      jobs,
      s3,
      actions: new ObjectActions(s3),
      settings: {
        ...DEFAULT_WALKER_SETTINGS,
        pageSize: config.buckets.pageSize,
        window: config.buckets.window,
        settleConcurrency: config.buckets.settleConcurrency,
        leaseMs: config.jobs.leaseMs,
        // The walker still polls for scans to advance; at most once a second, however slow the
        // workers' fallback poll is (a second is what a scan's progress may lag).
        idleMs: Math.min(Math.max(config.jobs.pollIntervalMs * 5, 100), 1_000),
        // A walker without scans waits for an announcement; a dead walker's scan is taken over
        // once its lease has expired anyway.
        maxIdleMs: config.jobs.leaseMs,
        retentionMs: config.jobs.resultRetentionSeconds * 1000,
        sweepIntervalMs: config.jobs.sweepIntervalMs,
      },
      logger: logger.child({ component: 'bucket-walker' }),
      ...(options.notifyWorkers ? { notifyWorkers: options.notifyWorkers } : {}),
      ...(options.events ? { events: options.events } : {}),
      ...(options.watchWork ? { watchWork: (wake: () => void) => options.watchWork!('buckets', wake) } : {}),
    });
    walker.start();
  }
  const service = new BucketScanService({
    buckets,
    jobs,
    grants,
    ...(options.events ? { events: options.events } : {}),
    // This process's walker at once; other processes' walkers through the store.
    notifyWalker: () => {
      walker?.wake();
      buckets
        .announceWork()
        .catch((error: unknown) =>
          logger.warn({ err: error }, 'bucket scan not announced; other walkers find it at their next poll'),
        );
    },
  });
  return {
    service,
    grants,
    ...(walker ? { walker } : {}),
    async close() {
      await walker?.stop();
      await buckets.close();
    },
  };
}

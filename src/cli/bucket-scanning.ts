import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { BucketScanService } from '../jobs/buckets/bucket-scan-service.ts';
import { BucketGrants } from '../jobs/buckets/grants.ts';
import { ObjectActions } from '../jobs/buckets/object-actions.ts';
import { BucketScanWalker, DEFAULT_WALKER_SETTINGS } from '../jobs/buckets/walker.ts';
import type { ScanEvents } from '../scan-events.ts';
import { createS3Client } from '../sources/s3/client.ts';
import type { JobQueueStore } from '../store/contracts.ts';
import { openBucketScanStore } from '../store/open-store.ts';

export interface BucketScanning {
  service: BucketScanService;
  grants: BucketGrants;
  /** Present where scan workers run. */
  walker?: BucketScanWalker;
  close(): Promise<void>;
}

/** Bucket scans for the composition root: their store, the walker (worker roles) and the API's service. */
export async function startBucketScanning(
  config: Config,
  jobs: JobQueueStore,
  logger: Logger,
  options: { runWalker: boolean; notifyWorkers?: () => void; events?: ScanEvents },
): Promise<BucketScanning> {
  const grants = new BucketGrants(config.buckets.grants);
  const buckets = await openBucketScanStore(config);
  let walker: BucketScanWalker | undefined;
  if (options.runWalker) {
    const s3 = createS3Client(config.s3);
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
        retentionMs: config.jobs.resultRetentionSeconds * 1000,
        sweepIntervalMs: config.jobs.sweepIntervalMs,
      },
      logger: logger.child({ component: 'bucket-walker' }),
      ...(options.notifyWorkers ? { notifyWorkers: options.notifyWorkers } : {}),
      ...(options.events ? { events: options.events } : {}),
    });
    walker.start();
  }
  const service = new BucketScanService({
    buckets,
    jobs,
    grants,
    ...(options.events ? { events: options.events } : {}),
    ...(walker ? { notifyWalker: () => walker.wake() } : {}),
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

import type { BucketScan } from '../../bucket-scan.ts';

export interface BucketScanProgress {
  listed: number;
  queued: number;
  clean: number;
  infected: number;
  unscannable: number;
  other: number;
  failed: number;
  skipped: number;
  rescans: number;
  bytes: number;
  bytesSettled: number;
  /** Objects settled per second since the scan started. */
  rate: number;
  /** Seconds until every object is settled; null while the listing is not done or nothing settled yet. */
  etaSeconds: number | null;
}

export function settledCount(scan: BucketScan): number {
  const c = scan.counts;
  return c.clean + c.infected + c.unscannable + c.otherVerdicts + c.failed + c.skipped;
}

/** Progress figures of a scan at `now` (a pure function of the stored counters). */
export function bucketScanProgress(scan: BucketScan, now: Date): BucketScanProgress {
  const c = scan.counts;
  const settled = settledCount(scan);
  const end = scan.finishedAt ?? now;
  const elapsedSeconds = Math.max((end.getTime() - scan.createdAt.getTime()) / 1000, 0.001);
  const rate = settled / elapsedSeconds;
  const queued = Math.max(c.listed - settled, 0);
  const etaSeconds =
    scan.state !== 'running' ? 0 : scan.listingDone && rate > 0 ? Math.ceil(queued / rate) : null;
  return {
    listed: c.listed,
    queued: scan.state === 'cancelled' ? 0 : queued,
    clean: c.clean,
    infected: c.infected,
    unscannable: c.unscannable,
    other: c.otherVerdicts,
    failed: c.failed,
    skipped: c.skipped,
    rescans: c.rescans,
    bytes: c.bytesListed,
    bytesSettled: c.bytesSettled,
    rate: Math.round(rate * 100) / 100,
    etaSeconds,
  };
}

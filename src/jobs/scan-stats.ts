import type { VerdictCounts } from '../scan.ts';

export interface TimelineBucket {
  start: Date;
  clean: number;
  infected: number;
  unscannable: number;
  blocked: number;
}

/** Hourly buckets up to two days, daily beyond: a chart never has more than ~48 or ~30 bars. */
export function bucketSecondsFor(hours: number): number {
  return hours <= 48 ? 3600 : 86_400;
}

/**
 * Every bucket from the one holding `since` to the one holding `now`, zero-filled: the store only
 * answers buckets that have verdicts, and its buckets start at multiples of bucketSeconds.
 */
export function verdictTimeline(
  counts: VerdictCounts[],
  since: Date,
  now: Date,
  bucketSeconds: number,
): TimelineBucket[] {
  const width = bucketSeconds * 1000;
  const byStart = new Map(counts.map((count) => [count.bucketStart.getTime(), count]));
  const timeline: TimelineBucket[] = [];
  for (let start = Math.floor(since.getTime() / width) * width; start <= now.getTime(); start += width) {
    const count = byStart.get(start);
    timeline.push({
      start: new Date(start),
      clean: count?.clean ?? 0,
      infected: count?.infected ?? 0,
      unscannable: count?.unscannable ?? 0,
      blocked: count?.blocked ?? 0,
    });
  }
  return timeline;
}

export interface ScanStats {
  bucketSeconds: number;
  /** Every bucket of the window, oldest first, zero-filled. */
  buckets: TimelineBucket[];
  totals: { clean: number; infected: number; unscannable: number; blocked: number };
  /** Jobs of the tenant queued or running now. */
  pending: number;
}

export function totalsOf(buckets: readonly TimelineBucket[]): ScanStats['totals'] {
  const totals = { clean: 0, infected: 0, unscannable: 0, blocked: 0 };
  for (const bucket of buckets) {
    totals.clean += bucket.clean;
    totals.infected += bucket.infected;
    totals.unscannable += bucket.unscannable;
    totals.blocked += bucket.blocked;
  }
  return totals;
}

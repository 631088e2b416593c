import type { VerdictCounts } from '../scan.ts';

/** The width of one verdict counter (store migrations 006: `verdict_counts.hour_start`). */
export const COUNTER_HOUR_MS = 3_600_000;

/**
 * How countVerdicts answers from the hourly counters: the whole hours from the first hour boundary
 * at or after `since` come from `verdict_counts`; the part-hour before it (`since` is rarely on a
 * boundary) is counted from the tenant's completion index, at most one hour of one tenant's results.
 * Undefined when the buckets are not whole hours: those are counted from the table as before.
 */
export interface VerdictWindow {
  countersFrom: number;
  partialFrom: number;
  bucketMs: number;
}

export function verdictWindow(since: Date, bucketMs: number): VerdictWindow | undefined {
  if (bucketMs % COUNTER_HOUR_MS !== 0) return undefined;
  const sinceMs = since.getTime();
  return {
    countersFrom: Math.ceil(sinceMs / COUNTER_HOUR_MS) * COUNTER_HOUR_MS,
    partialFrom: sinceMs,
    bucketMs,
  };
}

/**
 * Sums bucket lists by bucket start, oldest first, leaving out buckets with no verdict at all (a
 * counter row whose results were all deleted is gone, but a partly summed bucket may be zero).
 */
export function mergeVerdictCounts(...lists: VerdictCounts[][]): VerdictCounts[] {
  const byStart = new Map<number, VerdictCounts>();
  for (const list of lists) {
    for (const counts of list) {
      const start = counts.bucketStart.getTime();
      const sum = byStart.get(start);
      if (!sum) byStart.set(start, { ...counts });
      else {
        sum.clean += counts.clean;
        sum.infected += counts.infected;
        sum.unscannable += counts.unscannable;
        sum.blocked += counts.blocked;
      }
    }
  }
  return [...byStart.values()]
    .filter((counts) => counts.clean + counts.infected + counts.unscannable + counts.blocked > 0)
    .sort((a, b) => a.bucketStart.getTime() - b.bucketStart.getTime());
}

/** One bucket as a counting query returns it (PostgreSQL sends sums of bigint as strings). */
export interface VerdictCountRow {
  bucket: number | string;
  clean: number | string;
  infected: number | string;
  unscannable: number | string;
  blocked: number | string;
}

export function verdictCountsFromRow(row: VerdictCountRow): VerdictCounts {
  return {
    bucketStart: new Date(Number(row.bucket)),
    clean: Number(row.clean),
    infected: Number(row.infected),
    unscannable: Number(row.unscannable),
    blocked: Number(row.blocked),
  };
}

import type { Payload } from './data.ts';
import { measureAsync } from './rounds.ts';
import type { ScangateClient } from './scangate-client.ts';
import { type LatencySummary, round, roundRate, summarize } from './stats.ts';

export interface CacheRun {
  label: 'unique' | 'repeat-cache-off' | 'repeat-cache-on';
  files: number;
  distinctFiles: number;
  seconds: number;
  filesPerSecond: number;
  mbPerSecond: number;
  latency: LatencySummary;
  verdicts: Record<string, number>;
  /** Jobs whose stored verdict says `cached: true` (answered without a scan). */
  cachedVerdicts: number;
}

export interface CacheResult {
  fileBytes: number;
  files: number;
  concurrency: number;
  repeatFraction: number;
  runs: CacheRun[];
  /** files/s of the 50 % repeat workload with the cache over the same number of distinct files. */
  gainOverUnique: number | null;
  /** files/s with the cache over the same repeat workload with VERDICT_CACHE=false (clamd's own MD5 cache still on). */
  gainOverCacheOff: number | null;
}

/**
 * The 50 % repeat workload over `originals`: each original once and once more `distance` places
 * later, so its verdict is usually stored before the repeat is leased (the queue is FIFO and
 * `distance` is larger than the number of workers). Half the submissions repeat earlier bytes.
 */
export function repeatWorkload<T>(originals: T[], distance: number): T[] {
  const order: T[] = [];
  for (let index = 0; index < originals.length; index++) {
    order.push(originals[index]!);
    if (index >= distance) order.push(originals[index - distance]!);
  }
  for (let index = Math.max(0, originals.length - distance); index < originals.length; index++)
    order.push(originals[index]!);
  return order;
}

/** One async run (submit everything at `concurrency`, until every verdict is stored). */
export async function measureCacheRun(
  label: CacheRun['label'],
  client: ScangateClient,
  payloads: Payload[],
  concurrency: number,
): Promise<CacheRun> {
  const measured = await measureAsync(client, payloads, concurrency);
  const bytes = payloads.reduce((total, payload) => total + payload.size, 0);
  return {
    label,
    files: payloads.length,
    distinctFiles: new Set(payloads).size,
    seconds: round(measured.seconds, 3),
    filesPerSecond: roundRate(payloads.length / measured.seconds),
    mbPerSecond: round(bytes / 1e6 / measured.seconds),
    latency: summarize(measured.latenciesMs),
    verdicts: measured.verdicts,
    cachedVerdicts: measured.cachedVerdicts ?? 0,
  };
}

export function cacheGains(runs: CacheRun[]): Pick<CacheResult, 'gainOverUnique' | 'gainOverCacheOff'> {
  const rate = (label: CacheRun['label']) => runs.find((run) => run.label === label)?.filesPerSecond;
  const on = rate('repeat-cache-on');
  const unique = rate('unique');
  const off = rate('repeat-cache-off');
  return {
    gainOverUnique: on && unique ? round(on / unique) : null,
    gainOverCacheOff: on && off ? round(on / off) : null,
  };
}

import type { DownloadResult } from './download.ts';
import type { RoundResult } from './rounds.ts';
import { round } from './stats.ts';
import type { SubmitLatencyResult } from './submit-latency.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export interface TargetResult {
  id: 'sync-small-files' | 'async-end-to-end' | 'download-rss' | 'submit-latency';
  target: string;
  /** null: the run did not measure it (a quick or partial run). */
  held: boolean | null;
  measured: string;
}

export interface RatioCell {
  size: string;
  concurrency: number;
  ratio: number;
}

/**
 * files/s of a sync or async round over raw clamd's at the same size and concurrency, from the
 * unrounded rates (files / seconds): 0.3 over 0.4 files/s would say 0.75 for 0.92.
 */
export function ratioToRaw(round_: RoundResult, rounds: RoundResult[]): number | null {
  const raw = rounds.find(
    (other) => other.mode === 'raw' && other.size === round_.size && other.concurrency === round_.concurrency,
  );
  if (!raw || !(raw.seconds > 0) || !(round_.seconds > 0)) return null;
  return round(round_.files / round_.seconds / (raw.files / raw.seconds));
}

function ratios(rounds: RoundResult[], mode: 'sync' | 'async', maxFileBytes: number): RatioCell[] {
  const cells: RatioCell[] = [];
  for (const candidate of rounds) {
    if (candidate.mode !== mode || candidate.fileBytes > maxFileBytes) continue;
    const ratio = ratioToRaw(candidate, rounds);
    if (ratio !== null) cells.push({ size: candidate.size, concurrency: candidate.concurrency, ratio });
  }
  return cells;
}

function ratioTarget(
  id: TargetResult['id'],
  target: string,
  cells: RatioCell[],
  minimum: number,
): TargetResult {
  if (cells.length === 0) return { id, target, held: null, measured: 'not measured' };
  const misses = cells.filter((cell) => cell.ratio < minimum);
  const worst = cells.reduce((low, cell) => (cell.ratio < low.ratio ? cell : low));
  const list = (items: RatioCell[]) =>
    items.map((cell) => `${cell.size} c${cell.concurrency} ${cell.ratio}×`).join(', ');
  return {
    id,
    target,
    held: misses.length === 0,
    measured:
      misses.length === 0
        ? `lowest ${worst.ratio}× (${worst.size} c${worst.concurrency}) over ${cells.length} cells`
        : `${misses.length} of ${cells.length} cells below: ${list(misses)}`,
  };
}

function mib(bytes: number): string {
  return `${round(bytes / MiB, 1)} MiB`;
}

/** The largest RSS the download phase saw: VmHWM when it could be reset, else the sampled peak. */
export function downloadPeakRss(download: DownloadResult): number {
  return Math.max(download.scangateRss.peakSampled, download.scangateRss.peakHwm ?? 0);
}

/** The four targets of issue #6, judged from what this run measured. */
export function evaluateTargets(
  rounds: RoundResult[],
  download: DownloadResult | undefined,
  latency: SubmitLatencyResult | undefined,
): TargetResult[] {
  const targets = [
    ratioTarget(
      'sync-small-files',
      'sync throughput ≥ 0.9× raw clamd for small files (1 KB and 100 KB, every concurrency)',
      ratios(rounds, 'sync', 100 * KiB),
      0.9,
    ),
    ratioTarget(
      'async-end-to-end',
      'async end-to-end (submit until verdict stored) ≥ 0.8× raw clamd (every size and concurrency)',
      ratios(rounds, 'async', Number.POSITIVE_INFINITY),
      0.8,
    ),
  ];

  const rssTarget = 'a 1 GB file through a URL download scanned with the service’s peak RSS < 200 MiB';
  if (!download)
    targets.push({ id: 'download-rss', target: rssTarget, held: null, measured: 'not measured' });
  else {
    const peak = downloadPeakRss(download);
    const scanned = download.status === 'clean' || download.status === 'infected';
    const measured = `${mib(download.bytes)} file: ${download.status}${download.reason ? ` (${download.reason})` : ''}, peak RSS ${mib(peak)}`;
    targets.push({
      id: 'download-rss',
      target: rssTarget,
      // A smaller file (a quick run) says little about 1 GB: it is reported, not judged.
      held: download.bytes < GiB ? null : scanned && peak < 200 * MiB,
      measured: download.bytes < GiB ? `${measured} (not 1 GB: not judged)` : measured,
    });
  }

  const latencyTarget =
    'submit latency p99 < 20 ms while the workers are saturated (uploads and URL submits each)';
  if (!latency)
    targets.push({ id: 'submit-latency', target: latencyTarget, held: null, measured: 'not measured' });
  else {
    const { all, upload, url } = latency.saturated;
    const saturation = latency.backlog.saturated
      ? `queue never below ${latency.backlog.minQueueDepth} for ${latency.workers} workers`
      : `NOT saturated throughout (min queue depth ${latency.backlog.minQueueDepth} for ${latency.workers} workers)`;
    targets.push({
      id: 'submit-latency',
      target: latencyTarget,
      // Each kind on its own: fast URL submits must not hide slow uploads in a combined p99.
      held: latency.backlog.saturated ? Math.max(upload.p99Ms, url.p99Ms) < 20 : null,
      measured: `p99 upload ${upload.p99Ms} ms, URL ${url.p99Ms} ms (both ${all.p99Ms} ms); ${saturation}`,
    });
  }
  return targets;
}

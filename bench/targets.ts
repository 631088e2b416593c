import type { DownloadResult } from './download.ts';
import type { MemoryResult } from './memory.ts';
import type { SignatureSet } from './options.ts';
import type { RoundResult } from './rounds.ts';
import { type ScaleoutResult, scaleoutRatio } from './scaleout-report.ts';
import { round } from './stats.ts';
import type { SubmitLatencyResult } from './submit-latency.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export interface TargetResult {
  id:
    | 'full-async'
    | 'full-sync'
    | 'test-async-1kb'
    | 'test-async-100kb-up'
    | 'test-async-cpu'
    | 'idle-rss'
    | 'download-rss'
    | 'submit-latency'
    | 'scaleout-throughput'
    | 'scaleout-idle';
  target: string;
  /** null: the run did not measure it (a quick or partial run). */
  held: boolean | null;
  measured: string;
}

export interface RatioCell {
  signatures: SignatureSet;
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
    (other) =>
      other.mode === 'raw' &&
      signaturesOf(other) === signaturesOf(round_) &&
      other.size === round_.size &&
      other.concurrency === round_.concurrency,
  );
  if (!raw || !(raw.seconds > 0) || !(round_.seconds > 0)) return null;
  return round(round_.files / round_.seconds / (raw.files / raw.seconds));
}

/** Results written before the full database was benchmarked have no `signatures`: the test database. */
export function signaturesOf(round_: RoundResult): SignatureSet {
  return round_.signatures ?? 'test';
}

function ratios(
  rounds: RoundResult[],
  signatures: SignatureSet,
  mode: 'sync' | 'async',
  fileBytes: (bytes: number) => boolean,
): RatioCell[] {
  const cells: RatioCell[] = [];
  for (const candidate of rounds) {
    if (candidate.mode !== mode || signaturesOf(candidate) !== signatures || !fileBytes(candidate.fileBytes))
      continue;
    const ratio = ratioToRaw(candidate, rounds);
    if (ratio !== null)
      cells.push({ signatures, size: candidate.size, concurrency: candidate.concurrency, ratio });
  }
  return cells;
}

/**
 * scangate's CPU seconds over clamd's in the same round: both per job, as both did the same jobs.
 * null when clamd's CPU was too small to read (/proc counts in 10 ms ticks).
 */
export function cpuRatio(round_: RoundResult): number | null {
  if (!(round_.cpuSeconds.clamd >= 0.05)) return null;
  return round(round_.cpuSeconds.scangate / round_.cpuSeconds.clamd);
}

/** CPU seconds per 1,000 files of one process in a round. */
export function cpuPerThousand(seconds: number, files: number): number {
  return round((seconds / files) * 1000, 3);
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

export interface TargetInputs {
  rounds: RoundResult[];
  download?: DownloadResult | undefined;
  submitLatency?: SubmitLatencyResult | undefined;
  memory?: MemoryResult | undefined;
  scaleout?: ScaleoutResult | undefined;
}

/** Fewer files per round than this say little about a throughput: reported, not judged (the smoke test). */
const SCALEOUT_JUDGED_FILES = 100;
/** The idle window the issue's "idle workers cause < 5 transactions/s" is judged on. */
const SCALEOUT_JUDGED_IDLE_SECONDS = 30;

function scaleoutTargets(scaleout: ScaleoutResult | undefined): TargetResult[] {
  const throughputTarget =
    'PostgreSQL mode: 2 API + 2 worker processes ≥ 0.9× the single-process SQLite files/s for 100 KB files (every concurrency)';
  const idleTarget = 'PostgreSQL mode: idle 2 API + 2 worker processes cause < 5 transactions/s';
  if (!scaleout)
    return [notMeasured('scaleout-throughput', throughputTarget), notMeasured('scaleout-idle', idleTarget)];
  const cells = [...new Set(scaleout.runs.map((run) => run.concurrency))]
    .map((concurrency) => ({ concurrency, ratio: scaleoutRatio(scaleout.runs, concurrency) }))
    .filter((cell): cell is { concurrency: number; ratio: number } => cell.ratio !== null);
  const judged = scaleout.files >= SCALEOUT_JUDGED_FILES;
  const cellList = cells.map((cell) => `c${cell.concurrency} ${cell.ratio}×`).join(', ');
  const asyncCommit = cells
    .map((cell) => ({
      concurrency: cell.concurrency,
      ratio: scaleoutRatio(scaleout.runs, cell.concurrency, 'postgres-async-commit'),
    }))
    .filter((cell) => cell.ratio !== null)
    .map((cell) => `c${cell.concurrency} ${cell.ratio}×`)
    .join(', ');
  const throughput: TargetResult =
    cells.length === 0
      ? notMeasured('scaleout-throughput', throughputTarget)
      : {
          id: 'scaleout-throughput',
          target: throughputTarget,
          held: judged ? cells.every((cell) => cell.ratio >= 0.9) : null,
          measured:
            `${cellList} (${scaleout.files} files per round${judged ? '' : ': too few, not judged'})` +
            (asyncCommit ? `; with synchronous_commit=off: ${asyncCommit}` : ''),
        };
  const idle = scaleout.idle;
  const idleJudged = idle !== undefined && idle.seconds >= SCALEOUT_JUDGED_IDLE_SECONDS - 0.5;
  return [
    throughput,
    idle
      ? {
          id: 'scaleout-idle',
          target: idleTarget,
          held: idleJudged ? idle.transactionsPerSecond < 5 : null,
          measured:
            `${idle.transactionsPerSecond}/s (${idle.transactions} transactions in ${idle.seconds} s, pg_stat_database)` +
            (idleJudged ? '' : `: under ${SCALEOUT_JUDGED_IDLE_SECONDS} s, not judged`),
        }
      : notMeasured('scaleout-idle', idleTarget),
  ];
}

function notMeasured(id: TargetResult['id'], target: string): TargetResult {
  return { id, target, held: null, measured: 'not measured' };
}

function cpuTarget(rounds: RoundResult[]): TargetResult {
  const target =
    'test database: scangate’s CPU per async 1 KB job ≤ 1.5× clamd’s CPU per job in the same round';
  const cells = rounds
    .filter((entry) => entry.mode === 'async' && signaturesOf(entry) === 'test' && entry.fileBytes === KiB)
    .map((entry) => ({ entry, ratio: cpuRatio(entry) }))
    .filter((cell): cell is { entry: RoundResult; ratio: number } => cell.ratio !== null);
  if (cells.length === 0) return notMeasured('test-async-cpu', target);
  const describe = ({ entry, ratio }: (typeof cells)[number]) =>
    `c${entry.concurrency} ${ratio}× (${cpuPerThousand(entry.cpuSeconds.scangate, entry.files)} vs ` +
    `${cpuPerThousand(entry.cpuSeconds.clamd, entry.files)} s per 1,000)`;
  return {
    id: 'test-async-cpu',
    target,
    held: cells.every((cell) => cell.ratio <= 1.5),
    measured: cells.map(describe).join('; '),
  };
}

/** The targets of issue #14, judged from what this run measured. */
export function evaluateTargets({
  rounds,
  download,
  submitLatency: latency,
  memory,
  scaleout,
}: TargetInputs): TargetResult[] {
  const every = () => true;
  const targets = [
    ratioTarget(
      'full-async',
      'full database: async end-to-end ≥ 0.9× raw clamd files/s in every size and concurrency cell',
      ratios(rounds, 'full', 'async', every),
      0.9,
    ),
    ratioTarget(
      'full-sync',
      'full database: sync ≥ 0.95× raw clamd files/s in every size and concurrency cell',
      ratios(rounds, 'full', 'sync', every),
      0.95,
    ),
    ratioTarget(
      'test-async-1kb',
      'test database: async ≥ 0.6× raw clamd at 1 KB (every concurrency)',
      ratios(rounds, 'test', 'async', (bytes) => bytes <= KiB),
      0.6,
    ),
    ratioTarget(
      'test-async-100kb-up',
      'test database: async ≥ 0.9× raw clamd from 100 KB up (every size and concurrency)',
      ratios(rounds, 'test', 'async', (bytes) => bytes >= 100 * KiB),
      0.9,
    ),
    cpuTarget(rounds),
  ];

  const idleTarget = 'idle RSS of `SIGNATURES=test` serve, compiled build, node process only < 90 MiB';
  // As production runs it: the build with the production node flags (older results: the build).
  const idle = memory?.idle?.findLast((entry) => entry.entry === 'dist');
  targets.push(
    idle
      ? {
          id: 'idle-rss',
          target: idleTarget,
          held: idle.rss < 90 * MiB,
          measured: `${mib(idle.rss)} after ${idle.idleSeconds} s idle${idle.nodeFlags?.length ? ` (node ${idle.nodeFlags.join(' ')})` : ''} (anonymous ${mib(idle.rssAnon)}, file-backed ${mib(idle.rssFile)})`,
        }
      : notMeasured('idle-rss', idleTarget),
  );

  const rssTarget = 'a 1 GB file through a URL download scanned with the service’s peak RSS < 150 MiB';
  if (!download) targets.push(notMeasured('download-rss', rssTarget));
  else {
    const peak = downloadPeakRss(download);
    const scanned = download.status === 'clean' || download.status === 'infected';
    const measured = `${mib(download.bytes)} file: ${download.status}${download.reason ? ` (${download.reason})` : ''}, peak RSS ${mib(peak)}`;
    targets.push({
      id: 'download-rss',
      target: rssTarget,
      // A smaller file (a quick run) says little about 1 GB: it is reported, not judged.
      held: download.bytes < GiB ? null : scanned && peak < 150 * MiB,
      measured: download.bytes < GiB ? `${measured} (not 1 GB: not judged)` : measured,
    });
  }

  const latencyTarget =
    'submit latency p99 < 20 ms while the workers are saturated (uploads and URL submits each)';
  if (!latency) targets.push(notMeasured('submit-latency', latencyTarget));
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
  targets.push(...scaleoutTargets(scaleout));
  return targets;
}

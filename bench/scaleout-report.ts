import { type LatencySummary, round } from './stats.ts';

/** What the scale-out phase (bench/scaleout.ts) measured, for the report, the targets and the Markdown. */

/**
 * raw: the bench streams to clamd; sqlite: one `serve` process; postgres: 2 API + 2 worker
 * processes; postgres-async-commit: the same with synchronous_commit=off on their connections.
 */
export type ScaleoutSetup = 'raw' | 'sqlite' | 'postgres' | 'postgres-async-commit';

export interface ScaleoutRun {
  setup: ScaleoutSetup;
  concurrency: number;
  files: number;
  seconds: number;
  filesPerSecond: number;
  /** raw: request to verdict; sqlite and postgres: submit start to the verdict stored. */
  latency: LatencySummary;
  submitLatency?: LatencySummary;
  /** sqlite and postgres: each job from its lease to its verdict stored (started_at to completed_at). */
  inWorker?: LatencySummary;
  verdicts: Record<string, number>;
  /**
   * utime + stime over the round: clamd; the setup's scangate processes (API and worker processes
   * apart for postgres; the one process counts as both for sqlite); the PostgreSQL backends of the
   * bench database; the bench itself.
   */
  cpuSeconds: { clamd: number; api: number; worker: number; postgres: number; client: number };
}

export interface ScaleoutIdle {
  /** Idle before the window opened (see IDLE_SETTLE_SECONDS). */
  settleSeconds: number;
  seconds: number;
  /** xact_commit + xact_rollback of the bench database over the window (pg_stat_database). */
  transactions: number;
  transactionsPerSecond: number;
}

export interface ScaleoutResult {
  fileBytes: number;
  files: number;
  /** Scan slots in all: WORKER_CONCURRENCY of the sqlite process, split over the worker processes. */
  workerSlots: number;
  apiProcesses: number;
  workerProcesses: number;
  workerConcurrency: number[];
  runs: ScaleoutRun[];
  idle?: ScaleoutIdle;
}

/** files/s of a PostgreSQL setup over the sqlite one at the same concurrency, from unrounded rates. */
export function scaleoutRatio(
  runs: ScaleoutRun[],
  concurrency: number,
  setup: ScaleoutSetup = 'postgres',
): number | null {
  const rate = (of: ScaleoutSetup) => {
    const run = runs.find((entry) => entry.setup === of && entry.concurrency === concurrency);
    return run && run.seconds > 0 ? run.files / run.seconds : undefined;
  };
  const postgres = rate(setup);
  const sqlite = rate('sqlite');
  if (postgres === undefined || sqlite === undefined) return null;
  return round(postgres / sqlite);
}

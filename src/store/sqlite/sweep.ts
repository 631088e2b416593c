import type { SQLInputValue } from 'node:sqlite';
import { setTimeout as rest } from 'node:timers/promises';

/** What the sweep needs of a connection (SqliteDatabase): named here, so neither module imports the other. */
export interface SweepConnection {
  immediate<T>(work: () => T): T;
  all<T>(sql: string, ...values: SQLInputValue[]): T[];
  run(sql: string, ...values: SQLInputValue[]): number;
  releaseFreePages(afterStep?: (stepStartedAt: number) => Promise<void>): Promise<number>;
  /** A PASSIVE checkpoint; `log` is the frames the WAL holds. */
  checkpoint(): { log: number };
  /** Writes the main connection has made so far (its write turns); undefined without a turn. */
  foregroundWrites(): number | undefined;
}

/** A sweep asked of the maintenance thread. */
export interface SweepRequest {
  cutoff: number;
}

/**
 * Rows one retention transaction deletes while no requests write: a few milliseconds with the write
 * lock held (a deleted job touches eight indexes and its hour's counter: ~2.6 WAL frames and
 * ~0.07 ms a row, plus ~0.3 ms a transaction, at 1 M retained). Each batch holds the write turn
 * (write-turn.ts) from BEGIN to COMMIT: a main-thread write that meets it blocks until the COMMIT
 * (woken by Atomics.notify within microseconds), never in SQLite's busy handler, which sleeps 1, 2,
 * 5, 10 ms… with the event loop blocked. So a submit waits at most what is left of one batch, and
 * the sweep does not take the turn again while the main thread waits.
 */
const BATCH_ROWS_ALONE = 25;

/**
 * Rows per transaction while requests write. The catch-up below sets the rows per second, so the
 * share of submits that meet a batch barely depends on its size, and what one of them waits is
 * what is left of a batch: smaller batches, shorter waits, at ~0.3 ms of overhead each. Measured
 * with a million expired rows at ~400 rows/s and a submit every millisecond (store calls, 2 × 20 s
 * rounds, alternated): submit p99 during the sweep 2.0–2.9 ms at 25 rows, 1.2–1.8 at 10, 1.1–1.2 at
 * 5, against 0.5–0.7 before it; at 50 rows 2.9–3.5.
 */
const BATCH_ROWS_WHILE_REQUESTS_WRITE = 5;

/**
 * Share of the time the sweep holds the write turn while requests write too: at most one batch in
 * 200. A submit that meets a batch waits for what is left of it (write-turn.ts), and the sweep's
 * thread, its checkpoints and the requests then share two cores: at half the turn (as without
 * requests) submit p99 during a sweep was 2.3–2.7× its p99 before (bench:growth). A floor, not the
 * pace: tens of rows per second in batches of BATCH_ROWS_WHILE_REQUESTS_WRITE (each pays the
 * transaction's overhead), while the catch-up below sets the pace of any backlog.
 */
const FOREGROUND_DUTY = 1 / 200;

/** The longest rest: a step slowed by a cold cache (tens of ms) would otherwise pause the sweep for seconds. */
const MAX_REST_MS = 1_000;

/**
 * How much faster than its backlog built up the sweep deletes it while requests write: the rows it
 * started with over the time since the oldest of them expired, times this. In steady state (a sweep
 * every interval) that is twice the rate results come in, so however busy the service stays, the
 * backlog shrinks; the duty above only holds where that leaves room.
 */
const CATCH_UP = 2;

/** What the sweep found to delete when it started: its rows and how fast they built up. */
export interface SweepBacklog {
  rows: number;
  /** Rows per millisecond since the oldest of them expired (at the cutoff). */
  rowsPerMs: number;
}

/**
 * How long the sweep rests after a step that took `step.ms` to delete `step.rows`. Without requests
 * writing, as long as the step (half the turn: an idle service's backlog goes at full speed). While
 * they write, long enough to hold the turn FOREGROUND_DUTY of the time (at most MAX_REST_MS), unless
 * that deletes slower than CATCH_UP times the backlog's rate. Never shorter than the step.
 */
export function sweepRestMs(
  step: { ms: number; rows: number },
  requestsWriting: boolean,
  backlog?: SweepBacklog,
): number {
  if (!requestsWriting) return step.ms;
  const forDuty = Math.min(MAX_REST_MS, (step.ms * (1 - FOREGROUND_DUTY)) / FOREGROUND_DUTY);
  const forCatchUp =
    backlog && backlog.rowsPerMs > 0 ? step.rows / (CATCH_UP * backlog.rowsPerMs) - step.ms : forDuty;
  return Math.max(step.ms, Math.min(forDuty, forCatchUp));
}

/** The backlog of `count` rows the oldest of which expired at `oldest`, for a sweep with `cutoff`. */
export function sweepBacklog(count: number, oldest: number | null, cutoff: number): SweepBacklog {
  if (count === 0 || oldest === null) return { rows: 0, rowsPerMs: 0 };
  return { rows: count, rowsPerMs: count / Math.max(1, cutoff - oldest) };
}

/**
 * The sweep's batch sizes and rests between steps (sweepRestMs). Requests are writing when the main
 * connection took the write turn since the last step began; until a step has shown otherwise, the
 * sweep assumes they do. A connection without a turn (the sweep runs on the main thread itself)
 * cannot tell: it deletes BATCH_ROWS_ALONE at a time and always rests as long as its step.
 */
class SweepPace {
  readonly #db: SweepConnection;
  #lastWrites: number | undefined;
  #requestsWriting: boolean;

  constructor(db: SweepConnection) {
    this.#db = db;
    this.#lastWrites = db.foregroundWrites();
    this.#requestsWriting = this.#lastWrites !== undefined;
  }

  /** Rows the next batch deletes. */
  get batchRows(): number {
    return this.#requestsWriting ? BATCH_ROWS_WHILE_REQUESTS_WRITE : BATCH_ROWS_ALONE;
  }

  async afterStep(stepStartedAt: number, rows: number, backlog?: SweepBacklog): Promise<void> {
    const writes = this.#db.foregroundWrites();
    this.#requestsWriting = writes !== undefined && writes !== this.#lastWrites;
    this.#lastWrites = writes;
    const step = { ms: performance.now() - stepStartedAt, rows };
    await rest(Math.max(1, Math.ceil(sweepRestMs(step, this.#requestsWriting, backlog))));
  }
}

/**
 * Deletes finished jobs completed before `cutoff` whose deliveries are no longer pending, with their
 * deliveries, then cached verdicts older than `cutoff`, then gives the freed pages back. Bounded
 * batches, each its own write transaction, with rests in between (SweepPace): a million expired rows
 * never hold the write lock for longer than one batch, nor more than half the time, and while
 * requests write, a small share of it.
 */
export async function sweepExpiredRows(
  db: SweepConnection,
  cutoff: number,
): Promise<{ jobs: number; deliveries: number }> {
  const removed = { jobs: 0, deliveries: 0 };
  const checkpoints = new SweepCheckpoints(db);
  const pace = new SweepPace(db);
  const jobsBacklog = backlogOf(db, 'jobs', 'completed_at', "state = 'done' AND", cutoff);
  for (;;) {
    const started = performance.now();
    const rows = pace.batchRows;
    const batch = db.immediate(() => sweepBatch(db, cutoff, rows));
    removed.jobs += batch.jobs;
    removed.deliveries += batch.deliveries;
    checkpoints.afterBatch();
    if (batch.jobs < rows) break;
    await pace.afterStep(started, batch.jobs, jobsBacklog);
  }
  const verdictsBacklog = backlogOf(db, 'verdict_cache', 'created_at', '', cutoff);
  for (;;) {
    const started = performance.now();
    const rows = pace.batchRows;
    const deleted = db.run(
      `DELETE FROM verdict_cache WHERE (sha256, signature_version) IN (
         SELECT sha256, signature_version FROM verdict_cache WHERE created_at < ? LIMIT ?)`,
      cutoff,
      rows,
    );
    checkpoints.afterBatch();
    if (deleted < rows) break;
    await pace.afterStep(started, deleted, verdictsBacklog);
  }
  // Free pages have no backlog to keep up with: while requests write, they wait at the duty's pace.
  await db.releaseFreePages((started) => {
    checkpoints.afterBatch();
    return pace.afterStep(started, 0);
  });
  db.checkpoint();
  return removed;
}

/** Counted once per sweep on a partial or plain index of the time column: a read, no write lock. */
function backlogOf(
  db: SweepConnection,
  table: 'jobs' | 'verdict_cache',
  column: 'completed_at' | 'created_at',
  where: string,
  cutoff: number,
): SweepBacklog {
  const found = db.all<{ count: number; oldest: number | null }>(
    `SELECT count(*) AS count, min(${column}) AS oldest FROM ${table} WHERE ${where} ${column} < ?`,
    cutoff,
  )[0]!;
  return sweepBacklog(found.count, found.oldest, cutoff);
}

/** WAL frames the sweep lets pile up before it copies them into the file (SQLite's auto-checkpoint default). */
const CHECKPOINT_FRAMES = 1_000;

/**
 * The sweep's own WAL checkpoints. Its connection does not checkpoint at commit (database.ts): a
 * checkpoint at commit copies and syncs the pages before COMMIT returns, with the write turn held
 * (measured: main-thread waits of 10–48 ms behind such batches, submit p99 16 ms against 3–8).
 * Here a PASSIVE checkpoint runs after the batch gave the turn back, so writes go on meanwhile,
 * every few batches: as many as fill about CHECKPOINT_FRAMES, counted from what the last one found.
 * The WAL is started over by the main connection's own checkpoints (every 64 of its commits on this
 * thread, and its backstop), as between sweeps. Tried and dropped: pausing that backstop during the
 * sweep and starting the WAL over from here with a second checkpoint under the turn (two fsyncs
 * with the turn held every 64 MiB of WAL: submit p99 during the sweep 4.6–12.6 ms against 3.1–4.7).
 */
class SweepCheckpoints {
  readonly #db: SweepConnection;
  #batchesSince = 0;
  #every = 1;
  #framesAtLast = 0;

  constructor(db: SweepConnection) {
    this.#db = db;
  }

  afterBatch(): void {
    if (++this.#batchesSince < this.#every) return;
    const frames = this.#db.checkpoint().log;
    // A WAL started over since the last checkpoint counts from zero again.
    const added = frames >= this.#framesAtLast ? frames - this.#framesAtLast : frames;
    this.#framesAtLast = frames;
    const perBatch = Math.max(1, added / this.#batchesSince);
    this.#every = Math.min(64, Math.max(1, Math.floor(CHECKPOINT_FRAMES / perBatch)));
    this.#batchesSince = 0;
  }
}

function sweepBatch(db: SweepConnection, cutoff: number, rows: number): { jobs: number; deliveries: number } {
  const expired = db.all<{ id: string }>(
    `SELECT id FROM jobs j WHERE j.state = 'done' AND j.completed_at < ?
       AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.job_id = j.id AND p.state = 'pending')
     ORDER BY j.completed_at LIMIT ?`,
    cutoff,
    rows,
  );
  if (expired.length === 0) return { jobs: 0, deliveries: 0 };
  const ids = JSON.stringify(expired.map((row) => row.id));
  const deliveries = db.run('DELETE FROM deliveries WHERE job_id IN (SELECT value FROM json_each(?))', ids);
  const jobs = db.run('DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))', ids);
  return { jobs, deliveries };
}

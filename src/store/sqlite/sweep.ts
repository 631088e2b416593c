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
 * Rows one retention transaction deletes: about a millisecond with the write lock held on a quiet
 * machine (a deleted job touches eight indexes and its hour's counter). Each batch holds the write
 * turn (write-turn.ts) from BEGIN to COMMIT: a main-thread write that meets it blocks until the
 * COMMIT (woken by Atomics.notify within microseconds), never in SQLite's busy handler, which sleeps
 * 1, 2, 5, 10 ms… with the event loop blocked. So a submit waits at most what is left of one batch,
 * and the sweep does not take the turn again while the main thread waits. 10 rows was tried against
 * 25 with the turn (bench:growth, load 6–11): submit p99 during the sweep no better within the noise,
 * rows/s 30–60 % lower.
 */
const SWEEP_BATCH_ROWS = 25;

/**
 * Share of the time the sweep holds the write turn while requests write too: at most one batch in
 * 200. A submit that meets a batch waits for what is left of it (write-turn.ts), so the share of
 * submits that wait is about this duty; at 2 % and more, the p99 of a sub-millisecond submit was the
 * batch's length on top (bench:growth: submit p99 2.3–2.7× during a sweep at 50 %). About 125 rows/s
 * on this machine, 10 M a day, before the catch-up below asks for more.
 */
const FOREGROUND_DUTY = 1 / 200;

/**
 * How much faster than results expired the sweep deletes them while requests write: it rests no
 * longer than the completion times its batch spanned, halved. So however busy the service, the
 * backlog shrinks, at least as fast as results came in a day ago; the duty above only holds where
 * that leaves room.
 */
const CATCH_UP = 2;

/**
 * How long the sweep rests after a step that took `stepMs`. Without requests writing, as long as
 * the step (half the turn: a backlog goes at full speed on an idle service). While they write,
 * long enough to hold the turn FOREGROUND_DUTY of the time, unless results expire faster than that
 * deletes them: then `expirySpanMs` (the completion times of the step's rows, newest minus oldest)
 * divided by CATCH_UP. Never shorter than the step.
 */
export function sweepRestMs(
  stepMs: number,
  requestsWriting: boolean,
  expirySpanMs = Number.POSITIVE_INFINITY,
): number {
  if (!requestsWriting) return stepMs;
  const forDuty = (stepMs * (1 - FOREGROUND_DUTY)) / FOREGROUND_DUTY;
  return Math.max(stepMs, Math.min(forDuty, expirySpanMs / CATCH_UP));
}

/**
 * The sweep's rests between steps (sweepRestMs). Requests are writing when the main connection took
 * the write turn since the last step began; a connection without a turn (the sweep runs on the main
 * thread itself) always rests as long as its step.
 */
class SweepPace {
  readonly #db: SweepConnection;
  #lastWrites: number | undefined;

  constructor(db: SweepConnection) {
    this.#db = db;
    this.#lastWrites = db.foregroundWrites();
  }

  async afterStep(stepStartedAt: number, expirySpanMs?: number): Promise<void> {
    const writes = this.#db.foregroundWrites();
    const requestsWriting = writes !== undefined && writes !== this.#lastWrites;
    this.#lastWrites = writes;
    const stepMs = performance.now() - stepStartedAt;
    await rest(Math.max(1, Math.ceil(sweepRestMs(stepMs, requestsWriting, expirySpanMs))));
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
  for (;;) {
    const started = performance.now();
    const batch = db.immediate(() => sweepBatch(db, cutoff));
    removed.jobs += batch.jobs;
    removed.deliveries += batch.deliveries;
    checkpoints.afterBatch();
    if (batch.jobs < SWEEP_BATCH_ROWS) break;
    await pace.afterStep(started, batch.expirySpanMs);
  }
  for (;;) {
    const started = performance.now();
    const deleted = db.all<{ created_at: number }>(
      `DELETE FROM verdict_cache WHERE (sha256, signature_version) IN (
         SELECT sha256, signature_version FROM verdict_cache WHERE created_at < ? ORDER BY created_at LIMIT ?)
       RETURNING created_at`,
      cutoff,
      SWEEP_BATCH_ROWS,
    );
    checkpoints.afterBatch();
    if (deleted.length < SWEEP_BATCH_ROWS) break;
    await pace.afterStep(started, spanOf(deleted.map((row) => row.created_at)));
  }
  await db.releaseFreePages((started) => {
    checkpoints.afterBatch();
    return pace.afterStep(started);
  });
  db.checkpoint();
  return removed;
}

function spanOf(times: number[]): number {
  return Math.max(...times) - Math.min(...times);
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

function sweepBatch(
  db: SweepConnection,
  cutoff: number,
): { jobs: number; deliveries: number; expirySpanMs: number } {
  const expired = db.all<{ id: string; completed_at: number }>(
    `SELECT id, completed_at FROM jobs j WHERE j.state = 'done' AND j.completed_at < ?
       AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.job_id = j.id AND p.state = 'pending')
     ORDER BY j.completed_at LIMIT ?`,
    cutoff,
    SWEEP_BATCH_ROWS,
  );
  if (expired.length === 0) return { jobs: 0, deliveries: 0, expirySpanMs: 0 };
  const ids = JSON.stringify(expired.map((row) => row.id));
  const deliveries = db.run('DELETE FROM deliveries WHERE job_id IN (SELECT value FROM json_each(?))', ids);
  const jobs = db.run('DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))', ids);
  return { jobs, deliveries, expirySpanMs: spanOf(expired.map((row) => row.completed_at)) };
}

import type { SQLInputValue } from 'node:sqlite';
import { restAsLongAs } from '../rest.ts';

/** What the sweep needs of a connection (SqliteDatabase): named here, so neither module imports the other. */
export interface SweepConnection {
  immediate<T>(work: () => T): T;
  all<T>(sql: string, ...values: SQLInputValue[]): T[];
  run(sql: string, ...values: SQLInputValue[]): number;
  releaseFreePages(afterStep?: () => void): Promise<number>;
  /** A PASSIVE checkpoint; `log` is the frames the WAL holds. */
  checkpoint(): { log: number };
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
 * Deletes finished jobs completed before `cutoff` whose deliveries are no longer pending, with their
 * deliveries, then cached verdicts older than `cutoff`, then gives the freed pages back. Bounded
 * batches, each its own write transaction, with a rest as long as the batch in between: a million
 * expired rows never hold the write lock for longer than one batch, nor more than half the time.
 */
export async function sweepExpiredRows(
  db: SweepConnection,
  cutoff: number,
): Promise<{ jobs: number; deliveries: number }> {
  const removed = { jobs: 0, deliveries: 0 };
  const checkpoints = new SweepCheckpoints(db);
  for (;;) {
    const started = performance.now();
    const batch = db.immediate(() => sweepBatch(db, cutoff));
    removed.jobs += batch.jobs;
    removed.deliveries += batch.deliveries;
    checkpoints.afterBatch();
    if (batch.jobs < SWEEP_BATCH_ROWS) break;
    await restAsLongAs(started);
  }
  for (;;) {
    const started = performance.now();
    const deleted = db.run(
      `DELETE FROM verdict_cache WHERE (sha256, signature_version) IN (
         SELECT sha256, signature_version FROM verdict_cache WHERE created_at < ? LIMIT ?)`,
      cutoff,
      SWEEP_BATCH_ROWS,
    );
    checkpoints.afterBatch();
    if (deleted < SWEEP_BATCH_ROWS) break;
    await restAsLongAs(started);
  }
  await db.releaseFreePages(() => checkpoints.afterBatch());
  db.checkpoint();
  return removed;
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

function sweepBatch(db: SweepConnection, cutoff: number): { jobs: number; deliveries: number } {
  const expired = db.all<{ id: string }>(
    `SELECT id FROM jobs j WHERE j.state = 'done' AND j.completed_at < ?
       AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.job_id = j.id AND p.state = 'pending')
     ORDER BY j.completed_at LIMIT ?`,
    cutoff,
    SWEEP_BATCH_ROWS,
  );
  if (expired.length === 0) return { jobs: 0, deliveries: 0 };
  const ids = JSON.stringify(expired.map((row) => row.id));
  const deliveries = db.run('DELETE FROM deliveries WHERE job_id IN (SELECT value FROM json_each(?))', ids);
  const jobs = db.run('DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))', ids);
  return { jobs, deliveries };
}

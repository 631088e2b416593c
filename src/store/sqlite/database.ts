import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { messageOf, ScanGateError } from '../../errors.ts';
import { MODULE_EXTENSION, packageFile } from '../../package-files.ts';
import { loadMigrations } from '../migrations.ts';
import { restAsLongAs } from '../rest.ts';
import { CheckpointLedger, type MaintenanceRequest } from './maintenance-requests.ts';
import type { ReadRequest } from './read-worker.ts';
import { SqliteStoreThread } from './store-thread.ts';
import { sweepExpiredRows } from './sweep.ts';
import { WriteTurn } from './write-turn.ts';

/** A WHERE condition naming one row, with its parameters. */
export interface RowCondition {
  where: string;
  values: SQLInputValue[];
}

/** How long a writer waits for another connection's write transaction before giving up. */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Checkpoints (copying the WAL's pages back into the file, with an fsync of the WAL before and of
 * the file after) run on the maintenance thread, asked for after this many write commits of the main
 * connection (~450 WAL pages at the ~7 pages of a lease's or a completion's commit). Run by the
 * connection that commits, as SQLite does by default every 1,000 pages, a checkpoint held the event
 * loop for its copies and two fsyncs: 0.1–0.2 ms per claim amortised with one tenant queued and
 * 0.3–0.5 ms with a million jobs over 10,000 tenants, whose claims dirty pages all over the file
 * that a checkpoint then copies one by one (docs/SCALING.md, "The claim's cost with 10,000 tenants
 * and a million queued").
 */
const BACKGROUND_CHECKPOINT_COMMITS = 64;

/**
 * The main connection still checkpoints by itself once the WAL reaches this many pages (16 MiB): the
 * backstop when the maintenance thread cannot keep up or cannot run. It also bounds the WAL under
 * continuous commits: a checkpoint that commits overtook leaves the WAL to grow (SQLite starts it over
 * only at a write that finds every frame copied), and a longer WAL costs each commit more in its
 * index; the backstop's own checkpoint then copies only what the thread has not.
 */
const BACKSTOP_AUTOCHECKPOINT_PAGES = 4_000;

/** Statements that end a write when run outside a transaction (the ones that change rows, or commit). */
const WRITE_STATEMENT = /^\s*(?:INSERT|UPDATE|DELETE|REPLACE|COMMIT|END)\b/i;

/** What the WAL file is truncated to after a checkpoint. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** SQLite primary result codes that mean "the file cannot be used right now", not a bad query. */
const UNAVAILABLE_CODES = new Set([
  5, // SQLITE_BUSY
  6, // SQLITE_LOCKED
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  15, // SQLITE_PROTOCOL
]);

/** A store thread's script (the build emits each as an entry point of its own, in the sources' layout). */
function threadScript(name: string): URL {
  return pathToFileURL(packageFile(`src/store/sqlite/${name}${MODULE_EXTENSION}`));
}

/**
 * One connection to the store's SQLite file: pragmas, migrations, cached prepared statements and the
 * error mapping (file unusable → ScanGateError('store_unavailable')). Other errors pass unchanged.
 */
export class SqliteDatabase {
  readonly #path: string;
  #db: DatabaseSync | undefined;
  readonly #statements = new Map<string, { statement: StatementSync; writes: boolean }>();
  /**
   * Long reads and the retention sweep run on threads of their own, each with its own connection to
   * the file; an in-memory database has no file to share, and a store thread opens none of its own.
   */
  readonly #reader: SqliteStoreThread | undefined;
  readonly #maintenance: SqliteStoreThread | undefined;
  #commitsSinceCheckpoint = 0;
  /** Shared with the maintenance thread: its checkpoints for this connection; none without that thread. */
  readonly #checkpoints: CheckpointLedger | undefined;
  /** Shared with the maintenance thread's connection (write-turn.ts); none without that thread. */
  readonly #writeTurn: WriteTurn | undefined;
  readonly #busyTimeoutMs: number;

  constructor(
    path: string,
    options: {
      storeThreads?: boolean;
      storeThreadIdleMs?: number;
      /** On a store thread's connection: its side of the main connection's write turn. */
      writeTurn?: WriteTurn;
      busyTimeoutMs?: number;
    } = {},
  ) {
    this.#path = path;
    this.#writeTurn = options.writeTurn;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? BUSY_TIMEOUT_MS;
    if ((options.storeThreads ?? true) && path !== ':memory:' && path !== '') {
      const threadOptions = { idleMs: options.storeThreadIdleMs };
      this.#reader = new SqliteStoreThread(
        threadScript('read-worker'),
        { path, busyTimeoutMs: BUSY_TIMEOUT_MS },
        threadOptions,
      );
      const writeTurn = WriteTurn.share();
      this.#writeTurn = new WriteTurn(writeTurn, 'main');
      const mainTurn = this.#writeTurn;
      const checkpoints = CheckpointLedger.share();
      this.#checkpoints = new CheckpointLedger(checkpoints);
      this.#maintenance = new SqliteStoreThread(
        threadScript('maintenance-worker'),
        { path, writeTurn, checkpoints },
        // A thread that ended mid-batch (it failed, or the store closed) leaves the turn taken.
        { ...threadOptions, onGone: () => mainTurn.freeAbandoned() },
      );
    }
  }

  /** Checkpoints the maintenance thread has run for this connection, and the WAL frames they copied. */
  get backgroundCheckpoints(): { checkpoints: number; frames: number } {
    return this.#checkpoints?.counts ?? { checkpoints: 0, frames: 0 };
  }

  /** Writes the main connection has made (its write turns), as the sweep on the other side sees them. */
  foregroundWrites(): number | undefined {
    return this.#writeTurn?.counts.mainTurns;
  }

  /** The write turn shared with the maintenance thread (write-turn.ts), for its counts. */
  get writeTurn(): Pick<WriteTurn, 'counts' | 'holder'> | undefined {
    return this.#writeTurn;
  }

  /** Which store threads run now (each starts at its first request and ends when idle). */
  get runningThreads(): { reader: boolean; maintenance: boolean } {
    return { reader: this.#reader?.running ?? false, maintenance: this.#maintenance?.running ?? false };
  }

  open(): void {
    if (this.#db) return;
    mapErrors(() => {
      const db = new DatabaseSync(this.#path, { timeout: this.#busyTimeoutMs });
      try {
        db.exec('PRAGMA journal_mode = WAL');
        // In WAL mode NORMAL never corrupts and survives a killed process (kill -9); only a power
        // loss can roll back the last commits, which FULL would prevent at one fsync per commit.
        db.exec('PRAGMA synchronous = NORMAL');
        db.exec('PRAGMA foreign_keys = ON');
        // The WAL file keeps its largest size between checkpoints unless told otherwise: a sweep or a
        // bulk import would leave it at its peak for good.
        db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
        // SQLite's default page cache (~2 MiB), also for the connection that claims jobs. A 64 MiB one
        // (it paid off when a claim walked tenants) read no fewer pages per claim at 1 M retained +
        // 1 M queued, and every COMMIT scanned it whole (pcache1TruncateUnsafe, 17 % of a profile):
        // 3,350–3,660 claims/s against 4,000–4,300 with the default, runs alternated.
        if (this.#maintenance) db.exec(`PRAGMA wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
        // The maintenance thread's commits never checkpoint: that would hold the write turn while
        // the pages are copied and synced. The sweep checkpoints after giving the turn back.
        if (this.#writeTurn && !this.#maintenance) db.exec('PRAGMA wal_autocheckpoint = 0');
        useIncrementalVacuum(db);
      } catch (error) {
        db.close();
        throw error;
      }
      this.#db = db;
    });
    this.immediate(() => this.#migrate());
  }

  async close(): Promise<void> {
    this.#statements.clear();
    this.#db?.close();
    this.#db = undefined;
    await Promise.all([this.#reader?.close(), this.#maintenance?.close()]);
  }

  get<T>(sql: string, ...values: SQLInputValue[]): T | undefined {
    return this.#execute(sql, false, (statement) => statement.get(...values) as T | undefined);
  }

  all<T>(sql: string, ...values: SQLInputValue[]): T[] {
    return this.#execute(sql, false, (statement) => statement.all(...values) as T[]);
  }

  /**
   * A read that may take long (counting, deep pages): on the reader thread, so the event loop keeps
   * answering while it runs. It sees everything committed before it was asked for.
   */
  async allOffThread<T>(sql: string, ...values: SQLInputValue[]): Promise<T[]> {
    this.#connection();
    if (!this.#reader) return this.all<T>(sql, ...values);
    try {
      return await this.#reader.request<T[]>({ sql, values } satisfies ReadRequest);
    } catch (error) {
      return mapErrors(() => {
        throw error;
      });
    }
  }

  /**
   * The retention sweep (sweep.ts), on the maintenance thread when there is one; that thread is not
   * started when an indexed look finds nothing the sweep would remove or give back (an idle service).
   */
  async sweepExpired(cutoff: number): Promise<{ jobs: number; deliveries: number }> {
    this.#connection();
    if (!this.#maintenance) return sweepExpiredRows(this, cutoff);
    if (!this.#anythingToSweep(cutoff)) return { jobs: 0, deliveries: 0 };
    try {
      return await this.#maintenance.request({ kind: 'sweep', cutoff } satisfies MaintenanceRequest);
    } catch (error) {
      return mapErrors(() => {
        throw error;
      });
    }
  }

  /** Expired finished jobs, expired cached verdicts or free pages: each an index or header look. */
  #anythingToSweep(cutoff: number): boolean {
    const found = this.get<{ found: number }>(
      `SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'done' AND completed_at < ?)
           OR EXISTS (SELECT 1 FROM verdict_cache WHERE created_at < ?)
           OR (SELECT freelist_count FROM pragma_freelist_count()) > 0 AS found`,
      cutoff,
      cutoff,
    );
    return found!.found === 1;
  }

  /** Runs a write and returns the number of rows it changed. */
  run(sql: string, ...values: SQLInputValue[]): number {
    return this.#execute(sql, true, (statement) => Number(statement.run(...values).changes));
  }

  /**
   * Gives the free pages the retention sweep left back to the file system, a bounded step at a time
   * with a rest in between (`afterStep`, as long as the step by default), so the file tracks what is
   * retained instead of its peak.
   */
  async releaseFreePages(
    afterStep: (stepStartedAt: number) => Promise<void> = restAsLongAs,
  ): Promise<number> {
    let released = 0;
    let before = Number.POSITIVE_INFINITY;
    for (;;) {
      const started = performance.now();
      const free = this.get<{ freelist_count: number }>('PRAGMA freelist_count')!.freelist_count;
      // Stops when a step frees nothing (another connection holds pages), not only at zero.
      if (free === 0 || free >= before) return released;
      before = free;
      // exec, not a prepared statement: each step of the pragma's statement frees a single page.
      const db = this.#connection();
      this.#writing(true, () =>
        mapErrors(() => db.exec(`PRAGMA incremental_vacuum(${FREE_PAGES_PER_STEP})`)),
      );
      released += Math.min(free, FREE_PAGES_PER_STEP);
      await afterStep(started);
    }
  }

  /**
   * The fencing update: changes one leased row only while the caller still holds its lease (same
   * token, still in its leased state). True when the row was changed. The row is named by its id,
   * or by a condition of the caller's (a job found by the rowid its token carries).
   */
  updateLeased(
    table: 'jobs' | 'deliveries',
    row: string | RowCondition,
    leaseToken: string,
    assignments: string,
    ...values: SQLInputValue[]
  ): boolean {
    const leasedState = table === 'jobs' ? 'running' : 'pending';
    const { where, values: rowValues } = typeof row === 'string' ? { where: 'id = ?', values: [row] } : row;
    const changed = this.run(
      `UPDATE ${table} SET ${assignments} WHERE ${where} AND lease_token = ? AND state = '${leasedState}'`,
      ...values,
      ...rowValues,
      leaseToken,
    );
    return changed === 1;
  }

  /**
   * A read-then-write transaction. IMMEDIATE takes the write lock up front: a deferred transaction
   * that reads first cannot upgrade its WAL snapshot and fails with SQLITE_BUSY at once, ignoring
   * busy_timeout, when another connection wrote in between.
   */
  immediate<T>(work: () => T): T {
    const db = this.#connection();
    const result = this.#writing(true, () => {
      mapErrors(() => db.exec('BEGIN IMMEDIATE'));
      try {
        const committed = work();
        mapErrors(() => db.exec('COMMIT'));
        return committed;
      } catch (error) {
        if (db.isTransaction) db.exec('ROLLBACK');
        throw error;
      }
    });
    this.#committed();
    return result;
  }

  /**
   * A write holds the write turn (nested writes inside a transaction take it once); reads never
   * wait. Taking it for a statement that turns out not to write costs at most one sweep batch's
   * wait; missing a write costs the busy handler.
   */
  #writing<T>(writes: boolean, work: () => T): T {
    return writes && this.#writeTurn ? this.#writeTurn.hold(work) : work();
  }

  /** Applies the numbered migrations newer than the file's user_version (inside `immediate`). */
  #migrate(): void {
    const db = this.#connection();
    const current = this.get<{ user_version: number }>('PRAGMA user_version')!.user_version;
    for (const migration of loadMigrations('sqlite')) {
      if (migration.version <= current) continue;
      mapErrors(() => {
        db.exec(migration.sql);
        db.exec(`PRAGMA user_version = ${migration.version}`);
      });
    }
  }

  #connection(): DatabaseSync {
    if (!this.#db) throw new ScanGateError('store_unavailable', 'the SQLite job store is not open');
    return this.#db;
  }

  /** Checkpoints the WAL without waiting for readers or writers (the maintenance thread's task). */
  checkpoint(): { busy: number; log: number; checkpointed: number } {
    return this.get('PRAGMA wal_checkpoint(PASSIVE)')!;
  }

  /** `writes`: run() takes the write turn for any statement (a `WITH … INSERT` too). */
  #execute<T>(sql: string, writes: boolean, work: (statement: StatementSync) => T): T {
    const prepared = this.#statement(sql);
    const result = this.#writing(writes || prepared.writes, () => mapErrors(() => work(prepared.statement)));
    if (prepared.writes && !this.#connection().isTransaction) this.#committed();
    return result;
  }

  /**
   * Counts a write commit of this connection; every BACKGROUND_CHECKPOINT_COMMITS, the maintenance
   * thread checkpoints (one request at a time). Its failure is not the caller's: the backstop
   * autocheckpoint of this connection still bounds the WAL.
   */
  #committed(): void {
    const ledger = this.#checkpoints;
    if (!this.#maintenance || !ledger) return;
    if (++this.#commitsSinceCheckpoint < BACKGROUND_CHECKPOINT_COMMITS || !ledger.tryStart()) return;
    this.#commitsSinceCheckpoint = 0;
    // The thread marks the ledger itself once it has run the checkpoint; a thread that ended first
    // (it failed, or the store closed) fails its requests, and the next commit may ask again.
    this.#maintenance
      .request({ kind: 'checkpoint' } satisfies MaintenanceRequest)
      .catch(() => ledger.abandon());
  }

  #statement(sql: string): { statement: StatementSync; writes: boolean } {
    let prepared = this.#statements.get(sql);
    if (!prepared) {
      prepared = { statement: this.#connection().prepare(sql), writes: WRITE_STATEMENT.test(sql) };
      this.#statements.set(sql, prepared);
    }
    return prepared;
  }
}

/** Pages (4 KiB) one incremental_vacuum step returns: a few milliseconds of I/O. */
const FREE_PAGES_PER_STEP = 128;

/**
 * auto_vacuum=INCREMENTAL keeps the page maps that let incremental_vacuum hand free pages back.
 * A file takes a new mode only when rebuilt once its header is written (switching to WAL already
 * writes it), so a file in another mode is rebuilt here, once: instant for a new file, seconds per
 * GiB for one created before this mode (and as much free disk again while the VACUUM runs).
 */
function useIncrementalVacuum(db: DatabaseSync): void {
  const INCREMENTAL = 2;
  const mode = () => (db.prepare('PRAGMA auto_vacuum').get() as { auto_vacuum: number }).auto_vacuum;
  if (mode() === INCREMENTAL) return;
  db.exec('PRAGMA auto_vacuum = INCREMENTAL');
  if (mode() !== INCREMENTAL) db.exec('VACUUM');
}

function mapErrors<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    const code = (error as { errcode?: unknown }).errcode;
    if (typeof code === 'number' && UNAVAILABLE_CODES.has(code & 0xff)) {
      throw new ScanGateError('store_unavailable', `SQLite job store unavailable: ${messageOf(error)}`, {
        retryable: true,
        cause: error,
      });
    }
    throw error;
  }
}

/** SQLite names the columns of a violated unique index: "UNIQUE constraint failed: jobs.trace_id". */
export function isUniqueViolation(error: unknown, columnPrefix: string): boolean {
  const code = (error as { errcode?: unknown }).errcode;
  // SQLITE_CONSTRAINT_UNIQUE (2067) or SQLITE_CONSTRAINT_PRIMARYKEY (1555)
  return (code === 2067 || code === 1555) && messageOf(error).includes(columnPrefix);
}

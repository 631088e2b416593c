import { SqlBucketScanStore, type SqlExecutor, type SqlSession, type SqlValue } from '../bucket-scans.ts';
import { SqliteDatabase } from './database.ts';

/**
 * Bucket scans in the embedded SQLite file, on a connection of their own (WAL lets it share the
 * file with the job store's connection). node:sqlite is synchronous but the store's transactions
 * span awaits, so every operation takes its turn on this connection: nothing can slip into an open
 * transaction.
 */
class SqliteExecutor implements SqlExecutor {
  readonly tables = {
    scans: 'bucket_scans',
    objects: 'bucket_scan_objects',
    settings: 'bucket_tenant_settings',
    jobs: 'jobs',
  };
  readonly #db: SqliteDatabase;
  #tail: Promise<unknown> = Promise.resolve();
  readonly #session: SqlSession;

  constructor(path: string) {
    // Bucket scans need neither the reader nor the maintenance thread of the job store.
    this.#db = new SqliteDatabase(path, { storeThreads: false });
    this.#session = {
      get: async <T>(sql: string, values: SqlValue[] = []) => this.#db.get<T>(sql, ...values),
      all: async <T>(sql: string, values: SqlValue[] = []) => this.#db.all<T>(sql, ...values),
      run: async (sql: string, values: SqlValue[] = []) => this.#db.run(sql, ...values),
    };
  }

  async open(): Promise<void> {
    this.#db.open();
  }

  async close(): Promise<void> {
    await this.#inTurn(async () => this.#db.close());
  }

  get<T>(sql: string, values?: SqlValue[]): Promise<T | undefined> {
    return this.#inTurn(() => this.#session.get<T>(sql, values));
  }

  all<T>(sql: string, values?: SqlValue[]): Promise<T[]> {
    return this.#inTurn(() => this.#session.all<T>(sql, values));
  }

  run(sql: string, values?: SqlValue[]): Promise<number> {
    return this.#inTurn(() => this.#session.run(sql, values));
  }

  transaction<T>(work: (session: SqlSession) => Promise<T>): Promise<T> {
    return this.#inTurn(async () => {
      // IMMEDIATE: take the write lock before the first read (see SqliteDatabase.immediate).
      this.#db.run('BEGIN IMMEDIATE');
      try {
        const result = await work(this.#session);
        this.#db.run('COMMIT');
        return result;
      } catch (error) {
        try {
          this.#db.run('ROLLBACK');
        } catch {
          // No transaction left to roll back (the failed statement ended it); the original error matters.
        }
        throw error;
      }
    });
  }

  /** One process walks a SQLite store's scans, and its walker is woken in-process. */
  async announceWork(): Promise<void> {}

  #inTurn<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(work);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

export class SqliteBucketScanStore extends SqlBucketScanStore {
  constructor(path: string) {
    super(new SqliteExecutor(path));
  }
}

import type { Store } from '../contracts.ts';
import { SqliteDatabase } from './database.ts';
import { SqliteJobQueue } from './jobs.ts';
import { SqliteKeyStore } from './keys.ts';
import { SqliteDeliveryOutbox } from './outbox.ts';
import { SqlitePolicyStore } from './policies.ts';
import { SqliteVerdictCache } from './verdicts.ts';

/**
 * The embedded single-node store: one SQLite file in WAL mode, one connection per store, shared by
 * its parts. Other processes on the same file are kept apart by SQLite's write lock.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly jobs: SqliteJobQueue;
  readonly outbox: SqliteDeliveryOutbox;
  readonly verdicts: SqliteVerdictCache;
  readonly keys: SqliteKeyStore;
  readonly policies: SqlitePolicyStore;
  readonly #db: SqliteDatabase;

  constructor(path: string) {
    this.#db = new SqliteDatabase(path);
    this.jobs = new SqliteJobQueue(this.#db);
    this.outbox = new SqliteDeliveryOutbox(this.#db);
    this.verdicts = new SqliteVerdictCache(this.#db);
    this.keys = new SqliteKeyStore(this.#db);
    this.policies = new SqlitePolicyStore(this.#db);
  }

  async init(): Promise<void> {
    this.#db.open();
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  async ping(): Promise<void> {
    this.#db.get('SELECT 1');
  }

  watchWork(): () => void {
    return () => {};
  }
}

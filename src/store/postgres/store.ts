import type { Store, WorkQueue } from '../contracts.ts';
import { PostgresDatabase } from './database.ts';
import { PostgresJobQueue } from './jobs.ts';
import { PostgresKeyStore } from './keys.ts';
import { PostgresDeliveryOutbox } from './outbox.ts';
import { PostgresPolicyStore } from './policies.ts';
import { PostgresVerdictCache } from './verdicts.ts';
import { PostgresWorkNotifications } from './work-notifications.ts';

/**
 * The scale-out store: any number of API and worker nodes share one PostgreSQL database (one pool
 * per store, shared by its parts, every table qualified by `schema`).
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly jobs: PostgresJobQueue;
  readonly outbox: PostgresDeliveryOutbox;
  readonly verdicts: PostgresVerdictCache;
  readonly keys: PostgresKeyStore;
  readonly policies: PostgresPolicyStore;
  readonly #db: PostgresDatabase;
  readonly #notifications: PostgresWorkNotifications;

  constructor(connectionString: string, poolSize: number, schema = 'public') {
    this.#db = new PostgresDatabase(connectionString, poolSize, schema);
    this.#notifications = new PostgresWorkNotifications(connectionString, schema);
    this.jobs = new PostgresJobQueue(this.#db, this.#notifications);
    this.outbox = new PostgresDeliveryOutbox(this.#db, this.#notifications);
    this.verdicts = new PostgresVerdictCache(this.#db);
    this.keys = new PostgresKeyStore(this.#db);
    this.policies = new PostgresPolicyStore(this.#db);
  }

  async init(): Promise<void> {
    await this.#db.migrate();
  }

  async close(): Promise<void> {
    await this.#notifications.close();
    await this.#db.close();
  }

  async ping(): Promise<void> {
    await this.#db.query('SELECT 1');
  }

  watchWork(queue: WorkQueue, wake: () => void): () => void {
    return this.#notifications.watch(queue, wake);
  }
}

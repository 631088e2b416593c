import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { BucketScanStore, Store } from './contracts.ts';

/** The SQLite file of the embedded store, inside the data directory. */
export function sqliteStorePath(dataDir: string): string {
  return path.join(dataDir, 'scangate.db');
}

/**
 * Opens the configured store, migrated and ready: PostgreSQL when a database URL is set (several
 * nodes), otherwise SQLite in the data directory (one node). Each dialect is imported only when it is
 * the configured one: the PostgreSQL client costs a SQLite node memory and start-up time for nothing.
 */
export async function openStore(config: Pick<Config, 'dataDir' | 'store'>): Promise<Store> {
  let store: Store;
  if (config.store.databaseUrl) {
    const { PostgresStore } = await import('./postgres/store.ts');
    store = new PostgresStore(config.store.databaseUrl, config.store.poolSize);
  } else {
    await mkdir(config.dataDir, { recursive: true });
    const { SqliteStore } = await import('./sqlite/store.ts');
    store = new SqliteStore(sqliteStorePath(config.dataDir));
  }
  return initialized(store);
}

/**
 * The bucket-scan tables beside the job store's (same SQLite file or PostgreSQL database), on a
 * connection of their own: their transactions span awaits, which must not interleave with the queue's.
 */
export async function openBucketScanStore(
  config: Pick<Config, 'dataDir' | 'store'>,
): Promise<BucketScanStore> {
  const store: BucketScanStore = config.store.databaseUrl
    ? new (await import('./postgres/buckets.ts')).PostgresBucketScanStore(
        config.store.databaseUrl,
        Math.min(4, config.store.poolSize),
      )
    : new (await import('./sqlite/buckets.ts')).SqliteBucketScanStore(sqliteStorePath(config.dataDir));
  return initialized(store);
}

/** Migrated and ready, or closed again: a store that failed to start holds no connection or file. */
async function initialized<T extends { init(): Promise<void>; close(): Promise<void> }>(
  store: T,
): Promise<T> {
  try {
    await store.init();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { BucketScanStore, Store } from './contracts.ts';
import { PostgresBucketScanStore } from './postgres/buckets.ts';
import { PostgresStore } from './postgres/store.ts';
import { SqliteBucketScanStore } from './sqlite/buckets.ts';
import { SqliteStore } from './sqlite/store.ts';

/** The SQLite file of the embedded store, inside the data directory. */
export function sqliteStorePath(dataDir: string): string {
  return path.join(dataDir, 'scangate.db');
}

/**
 * Opens the configured store, migrated and ready: PostgreSQL when a database URL is set (several
 * nodes), otherwise SQLite in the data directory (one node).
 */
export async function openStore(config: Pick<Config, 'dataDir' | 'store'>): Promise<Store> {
  let store: Store;
  if (config.store.databaseUrl) {
    store = new PostgresStore(config.store.databaseUrl, config.store.poolSize);
  } else {
    await mkdir(config.dataDir, { recursive: true });
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
    ? new PostgresBucketScanStore(config.store.databaseUrl, Math.min(4, config.store.poolSize))
    : new SqliteBucketScanStore(sqliteStorePath(config.dataDir));
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

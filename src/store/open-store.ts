import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { JobStore } from '../scan.ts';
import { PostgresJobStore } from './postgres/jobs.ts';
import { SqliteJobStore } from './sqlite/jobs.ts';

/** The SQLite file of the embedded store, inside the data directory. */
export function sqliteStorePath(dataDir: string): string {
  return path.join(dataDir, 'scangate.db');
}

/**
 * Opens the configured store, migrated and ready: PostgreSQL when a database URL is set (several
 * nodes), otherwise SQLite in the data directory (one node).
 */
export async function openJobStore(config: Pick<Config, 'dataDir' | 'store'>): Promise<JobStore> {
  let store: JobStore;
  if (config.store.databaseUrl) {
    store = new PostgresJobStore(config.store.databaseUrl, config.store.poolSize);
  } else {
    await mkdir(config.dataDir, { recursive: true });
    store = new SqliteJobStore(sqliteStorePath(config.dataDir));
  }
  try {
    await store.init();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

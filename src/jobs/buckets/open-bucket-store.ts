import type { Config } from '../../config.ts';
import { PostgresBucketScanStore } from '../bucket-store-postgres.ts';
import { SqliteBucketScanStore } from '../bucket-store-sqlite.ts';
import { sqliteStorePath } from '../open-store.ts';
import type { BucketScanStore } from './model.ts';

/** The bucket-scan tables beside the job store's (same SQLite file or PostgreSQL database). */
export async function openBucketScanStore(
  config: Pick<Config, 'dataDir' | 'store'>,
): Promise<BucketScanStore> {
  const store: BucketScanStore = config.store.databaseUrl
    ? new PostgresBucketScanStore(config.store.databaseUrl, Math.min(4, config.store.poolSize))
    : new SqliteBucketScanStore(sqliteStorePath(config.dataDir));
  try {
    await store.init();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe } from 'node:test';
import type { BucketScanStore } from '../../src/store/contracts.ts';
import { PostgresBucketScanStore } from '../../src/store/postgres/buckets.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { SqliteBucketScanStore } from '../../src/store/sqlite/buckets.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { testSchema } from '../support/postgres.ts';
import { type BucketStoreFixture, bucketStoreContract } from './contract/buckets.ts';

async function sqliteFixture(): Promise<BucketStoreFixture> {
  const directory = await mkdtemp(path.join(tmpdir(), 'scangate-buckets-'));
  const file = path.join(directory, 'scangate.db');
  const store = new SqliteStore(file);
  await store.init();
  const opened: BucketScanStore[] = [];
  const openBuckets = async () => {
    const buckets = new SqliteBucketScanStore(file);
    await buckets.init();
    opened.push(buckets);
    return buckets;
  };
  const buckets = await openBuckets();
  return {
    store,
    buckets,
    openBuckets,
    async destroy() {
      for (const each of opened) await each.close();
      await store.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

async function postgresFixture(): Promise<BucketStoreFixture> {
  const { connectionString, schema, drop } = testSchema();
  const store = new PostgresStore(connectionString, 2, schema);
  await store.init();
  const opened: BucketScanStore[] = [];
  const openBuckets = async () => {
    const buckets = new PostgresBucketScanStore(connectionString, 2, schema);
    await buckets.init();
    opened.push(buckets);
    return buckets;
  };
  const buckets = await openBuckets();
  return {
    store,
    buckets,
    openBuckets,
    async destroy() {
      for (const each of opened) await each.close();
      await store.close();
      await drop();
    },
  };
}

describe('SqliteBucketScanStore contract', () => {
  bucketStoreContract(sqliteFixture);
});

describe('PostgresBucketScanStore contract', () => {
  bucketStoreContract(postgresFixture);
});

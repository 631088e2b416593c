import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe } from 'node:test';
import { PostgresBucketScanStore } from '../../src/jobs/bucket-store-postgres.ts';
import { SqliteBucketScanStore } from '../../src/jobs/bucket-store-sqlite.ts';
import type { BucketScanStore } from '../../src/jobs/buckets/model.ts';
import { PostgresJobStore } from '../../src/jobs/store-postgres.ts';
import { SqliteJobStore } from '../../src/jobs/store-sqlite.ts';
import { testSchema } from '../support/postgres.ts';
import { type BucketStoreFixture, bucketStoreContract } from './bucket-store-contract.ts';

async function sqliteFixture(): Promise<BucketStoreFixture> {
  const directory = await mkdtemp(path.join(tmpdir(), 'scangate-buckets-'));
  const file = path.join(directory, 'scangate.db');
  const jobs = new SqliteJobStore(file);
  await jobs.init();
  const opened: BucketScanStore[] = [];
  const openBuckets = async () => {
    const store = new SqliteBucketScanStore(file);
    await store.init();
    opened.push(store);
    return store;
  };
  const buckets = await openBuckets();
  return {
    jobs,
    buckets,
    openBuckets,
    async destroy() {
      for (const store of opened) await store.close();
      await jobs.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

async function postgresFixture(): Promise<BucketStoreFixture> {
  const { connectionString, schema, drop } = testSchema();
  const jobs = new PostgresJobStore(connectionString, 2, schema);
  await jobs.init();
  const opened: BucketScanStore[] = [];
  const openBuckets = async () => {
    const store = new PostgresBucketScanStore(connectionString, 2, schema);
    await store.init();
    opened.push(store);
    return store;
  };
  const buckets = await openBuckets();
  return {
    jobs,
    buckets,
    openBuckets,
    async destroy() {
      for (const store of opened) await store.close();
      await jobs.close();
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

import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultConfig } from '../../src/config.ts';
import { ScanGateError } from '../../src/errors.ts';
import { openStore, sqliteStorePath } from '../../src/store/open-store.ts';
import { newJob } from './contract/fixtures.ts';

test('without a database URL the store is SQLite in the data directory, created if missing', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'scangate-open-'));
  try {
    const config = defaultConfig(path.join(root, 'nested', 'data'));
    const store = await openStore(config);
    assert.equal(store.kind, 'sqlite');
    const job = await store.jobs.submit(newJob());
    await store.close();
    assert.ok((await stat(sqliteStorePath(config.dataDir))).isFile());

    const reopened = await openStore(config);
    assert.equal((await reopened.jobs.get(job.tenantId, job.id))?.id, job.id);
    await reopened.close();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('with a database URL the store is PostgreSQL, and an unreachable server fails the open', async () => {
  const config = defaultConfig(path.join(tmpdir(), 'scangate-unused'));
  config.store = { databaseUrl: 'postgres://postgres@127.0.0.1:1/test', poolSize: 2 };
  await assert.rejects(
    openStore(config),
    (error) => error instanceof ScanGateError && error.code === 'store_unavailable',
  );
});

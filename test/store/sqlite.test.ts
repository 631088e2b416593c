import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { ScanGateError } from '../../src/errors.ts';
import { STRICT_POLICY } from '../../src/policy/policy.ts';
import type { Store } from '../../src/store/contracts.ts';
import { loadMigrations } from '../../src/store/migrations.ts';
import { SqliteDatabase } from '../../src/store/sqlite/database.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { newJob } from './contract/fixtures.ts';
import { jobStoreContract, type StoreFixture } from './contract.ts';

async function sqliteFixture(): Promise<StoreFixture & { file: string }> {
  const directory = await mkdtemp(path.join(tmpdir(), 'scangate-store-'));
  const file = path.join(directory, 'scangate.db');
  const opened: Store[] = [];
  return {
    file,
    async open() {
      const store = new SqliteStore(file);
      opened.push(store);
      await store.init();
      assert.equal(store.kind, 'sqlite');
      return store;
    },
    async destroy() {
      for (const store of opened) await store.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

describe('SqliteStore contract', () => {
  jobStoreContract(sqliteFixture);
});

describe('SqliteStore on a file', () => {
  let fixture: Awaited<ReturnType<typeof sqliteFixture>>;
  beforeEach(async () => {
    fixture = await sqliteFixture();
  });
  afterEach(() => fixture.destroy());

  test('jobs submitted by a process killed with SIGKILL are there when the file is reopened', async () => {
    const child = spawn(
      process.execPath,
      [path.join(import.meta.dirname, 'fixtures/sqlite-submitter.ts'), fixture.file, '50'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const ids = JSON.parse(line) as string[];
    child.kill('SIGKILL');
    await once(child, 'exit');

    const reopened = await fixture.open();
    assert.equal(await reopened.jobs.countUnfinished('tenant-a'), 50);
    for (const id of ids) assert.equal((await reopened.jobs.get('tenant-a', id))?.state, 'queued');
  });

  test('4 threads on one file lease and complete 400 jobs, each exactly once, with no SQLITE_BUSY', async () => {
    const store = await fixture.open();
    const submitted = new Set<string>();
    for (let index = 0; index < 400; index++) submitted.add((await store.jobs.submit(newJob())).id);
    const workers = [0, 1, 2, 3].map(
      () =>
        new Worker(new URL('./fixtures/sqlite-leaser.ts', import.meta.url), {
          workerData: { file: fixture.file },
        }),
    );
    await Promise.all(workers.map((worker) => once(worker, 'message')));
    const finished = workers.map((worker) => once(worker, 'message'));
    for (const worker of workers) worker.postMessage('go');
    const results = (await Promise.all(finished)).map(
      ([message]) => message as { leased: string[]; errors: string[] },
    );
    assert.deepEqual(
      results.flatMap((result) => result.errors),
      [],
    );
    const leased = results.flatMap((result) => result.leased);
    assert.equal(leased.length, 400, 'no job leased twice');
    assert.ok(leased.every((id) => submitted.has(id)));
    assert.equal(new Set(leased).size, 400);
  });

  test('why BEGIN IMMEDIATE: a deferred read-then-write transaction fails at once, ignoring busy_timeout', async () => {
    await fixture.open();
    const reader = new DatabaseSync(fixture.file, { timeout: 3_000 });
    const writer = new DatabaseSync(fixture.file, { timeout: 3_000 });
    try {
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM jobs').get();
      writer.exec("UPDATE jobs SET attempts = attempts WHERE tenant_id = 'nobody'");
      writer.exec("INSERT INTO api_keys VALUES ('k', 't', 'h', 'p', 0, NULL)");
      const started = performance.now();
      assert.throws(() => reader.exec("DELETE FROM api_keys WHERE id = 'k'"), /database is locked|busy/i);
      assert.ok(performance.now() - started < 1_000, 'the busy timeout was not waited for');
    } finally {
      if (reader.isTransaction) reader.exec('ROLLBACK');
      reader.close();
      writer.close();
    }
  });

  test('the lease query is an index range scan and stays fast with 100k finished and 100k later jobs', async () => {
    const store = await fixture.open();
    const raw = new DatabaseSync(fixture.file, { timeout: 3_000 });
    try {
      const insert = (prefix: string, count: number, columns: string) =>
        raw.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
          INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, completed_at,
            next_attempt_at, result, result_status)
          SELECT '${prefix}-' || i, 'bulk', 'native', '{}', ${columns} FROM n`);
      insert('done', 100_000, "'done', 1, 0, 1, 0, '{\"status\":\"clean\"}', 'clean'");
      insert('later', 100_000, "'queued', 1, 0, NULL, 9999999999999, NULL, NULL");
      insert('due', 20, "'queued', 0, 0, NULL, 0, NULL, NULL");
      const plan = raw
        .prepare(`EXPLAIN QUERY PLAN SELECT seq FROM jobs WHERE state <> 'done' AND next_attempt_at <= ?
                  ORDER BY next_attempt_at, seq LIMIT 1`)
        .all(Date.now())
        .map((row) => String(row.detail));
      assert.deepEqual(plan, ['SEARCH jobs USING INDEX jobs_lease_idx (next_attempt_at<?)']);
    } finally {
      raw.close();
    }
    const timings: number[] = [];
    for (let index = 0; index < 20; index++) {
      const started = performance.now();
      assert.ok((await store.jobs.lease(60_000))?.job.id.startsWith('due-'));
      timings.push(performance.now() - started);
    }
    timings.sort((a, b) => a - b);
    assert.ok(timings[10]! < 5, `median lease took ${timings[10]} ms`);
    assert.equal(await store.jobs.lease(60_000), undefined);
  });

  test('a file migrated to 002 (fair picking) before content policies is brought forward to the latest (tenant and job policies)', async () => {
    const early = new DatabaseSync(fixture.file);
    for (const migration of loadMigrations('sqlite').filter((candidate) => candidate.version <= 2)) {
      early.exec(migration.sql);
    }
    early.exec('PRAGMA user_version = 2');
    early.close();
    const store = await fixture.open();
    const job = await store.jobs.submit(newJob({ policy: STRICT_POLICY }));
    assert.deepEqual((await store.jobs.get(job.tenantId, job.id))?.policy, STRICT_POLICY);
    await store.policies.set(job.tenantId, STRICT_POLICY);
    assert.deepEqual(await store.policies.get(job.tenantId), STRICT_POLICY);
    const reopened = new DatabaseSync(fixture.file);
    const { user_version } = reopened.prepare('PRAGMA user_version').get() as { user_version: number };
    reopened.close();
    assert.equal(user_version, Math.max(...loadMigrations('sqlite').map((migration) => migration.version)));
  });

  test('a file from before the verdict counters is rebuilt for incremental vacuum and backfilled; the batched sweep empties it and gives the pages back', async () => {
    const hourAgo = Math.floor(Date.now() / 3_600_000 - 30) * 3_600_000;
    const early = new DatabaseSync(fixture.file);
    early.exec('PRAGMA journal_mode = WAL');
    for (const migration of loadMigrations('sqlite').filter((candidate) => candidate.version <= 4)) {
      early.exec(migration.sql);
    }
    early.exec('PRAGMA user_version = 4');
    // 4,500 results over two tenants and three hours, more than four sweep batches.
    early.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4500)
      INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, completed_at,
        next_attempt_at, result, result_status)
      SELECT 'old-' || i, 'tenant-' || (i % 2), 'native', '{}', 'done', 1, ${hourAgo},
        ${hourAgo} + (i % 3) * 3600000, 0, '{"status":"clean"}',
        CASE WHEN i % 5 = 0 THEN 'infected' ELSE 'clean' END FROM n`);
    const pragma = (db: DatabaseSync, name: string) =>
      Object.values(db.prepare(`PRAGMA ${name}`).get() as Record<string, number>)[0];
    assert.equal(pragma(early, 'auto_vacuum'), 0);
    early.close();

    const store = await fixture.open();
    const counts = await store.jobs.countVerdicts('tenant-0', new Date(hourAgo - 3_600_000), 3600);
    assert.deepEqual(
      counts.map((bucket) => [bucket.bucketStart.getTime() - hourAgo, bucket.clean, bucket.infected]),
      [
        [0, 600, 150],
        [3_600_000, 600, 150],
        [7_200_000, 600, 150],
      ],
    );
    const raw = new DatabaseSync(fixture.file);
    try {
      assert.equal(pragma(raw, 'auto_vacuum'), 2, 'rebuilt in incremental mode');
      const pagesBefore = pragma(raw, 'page_count')!;
      assert.deepEqual(await store.jobs.sweepExpired(new Date()), { jobs: 4500, deliveries: 0 });
      assert.equal(pragma(raw, 'freelist_count'), 0);
      assert.ok(pragma(raw, 'page_count')! < pagesBefore, 'the file shrank');
      assert.equal((raw.prepare('SELECT count(*) AS n FROM verdict_counts').get() as { n: number }).n, 0);
    } finally {
      raw.close();
    }
    assert.deepEqual(await store.jobs.countVerdicts('tenant-0', new Date(0), 86_400), []);
  });

  test('store threads start at their first request, end when idle and start again; a sweep with nothing to remove starts none', async () => {
    const idleMs = 200;
    const db = new SqliteDatabase(fixture.file, { storeThreadIdleMs: idleMs });
    db.open();
    try {
      assert.deepEqual(db.runningThreads, { reader: false, maintenance: false }, 'none at open');
      assert.deepEqual(await db.sweepExpired(Date.now()), { jobs: 0, deliveries: 0 });
      assert.equal(db.runningThreads.maintenance, false, 'an empty store is swept without the thread');

      assert.deepEqual(await db.allOffThread('SELECT 41 + 1 AS n'), [{ n: 42 }]);
      assert.equal(db.runningThreads.reader, true);
      await sleep(idleMs * 3);
      assert.equal(db.runningThreads.reader, false, 'ended after idling');
      // The next requests start a new worker.
      const answers = await Promise.all(
        [1, 2, 3].map((n) => db.allOffThread<{ n: number }>('SELECT ? AS n', n)),
      );
      assert.deepEqual(answers.flat(), [{ n: 1 }, { n: 2 }, { n: 3 }]);

      db.run(
        `INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, completed_at,
           next_attempt_at, result, result_status)
         VALUES ('expired', 't', 'native', '{}', 'done', 1, 1, 1, 0, '{"status":"clean"}', 'clean')`,
      );
      assert.deepEqual(await db.sweepExpired(Date.now()), { jobs: 1, deliveries: 0 });
      assert.equal(db.runningThreads.maintenance, true, 'an expired row is swept on the thread');
      await sleep(idleMs * 3);
      assert.deepEqual(db.runningThreads, { reader: false, maintenance: false });
    } finally {
      await db.close();
    }
  });

  test('a closed store reports store_unavailable', async () => {
    const store = await fixture.open();
    await store.close();
    await assert.rejects(
      store.ping(),
      (error) => error instanceof ScanGateError && error.code === 'store_unavailable',
    );
    await assert.rejects(store.jobs.submit(newJob()), (error) => error instanceof ScanGateError);
  });
});

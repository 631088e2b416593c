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
import { CLEAN, newJob } from './contract/fixtures.ts';
import { jobStoreContract, type StoreFixture } from './contract.ts';
import {
  assertMatchesRecount,
  randomQueueMix,
  seededRandom,
  type TenantQueueRow,
} from './tenant-queue-mix.ts';

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

/** A store file as an older scangate left it: migrations up to `version`, then `rows` inserted. */
function fileAtVersion(file: string, version: number, rows: string): void {
  const early = new DatabaseSync(file);
  early.exec('PRAGMA journal_mode = WAL');
  for (const migration of loadMigrations('sqlite').filter((candidate) => candidate.version <= version)) {
    early.exec(migration.sql);
  }
  early.exec(`PRAGMA user_version = ${version}`);
  early.exec(rows);
  early.close();
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

  test("a lease token carries its job's rowid; the id and the whole token still fence every write", async () => {
    const store = await fixture.open();
    await store.jobs.submit(newJob());
    await store.jobs.submit(newJob());
    const first = (await store.jobs.lease(60_000))!;
    const second = (await store.jobs.lease(60_000))!;
    assert.match(first.leaseToken, /^\d+\.[0-9a-f-]{36}$/);
    assert.equal(
      await store.jobs.complete(second.job.id, first.leaseToken, CLEAN),
      false,
      "another job's token",
    );
    const forged = `${first.leaseToken.split('.')[0]}.${second.leaseToken.split('.')[1]}`;
    assert.equal(
      await store.jobs.complete(first.job.id, forged, CLEAN),
      false,
      'the rowid with another nonce',
    );
    assert.equal(await store.jobs.extendLease(first.job.id, 'not-a-token', 60_000), false);
    assert.equal(await store.jobs.extendLease(first.job.id, first.leaseToken, 60_000), true);
    assert.equal(await store.jobs.complete(first.job.id, first.leaseToken, CLEAN), true);
    assert.equal(await store.jobs.release(second.job.id, second.leaseToken), true);
    assert.equal((await store.jobs.get(second.job.tenantId, second.job.id))?.state, 'queued');
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

  test('a lease is index lookups, not a walk over tenants: fast with 100k finished, 100k later jobs and 10,000 tenants queued', async () => {
    const store = await fixture.open();
    const raw = new DatabaseSync(fixture.file, { timeout: 3_000 });
    const now = Date.now();
    try {
      const insert = (prefix: string, count: number, tenant: string, columns: string) =>
        raw.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
          INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, completed_at,
            next_attempt_at, result, result_status)
          SELECT '${prefix}-' || i, ${tenant}, 'native', '{}', ${columns} FROM n`);
      insert('done', 100_000, "'bulk'", "'done', 1, 0, 1, 0, '{\"status\":\"clean\"}', 'clean'");
      insert('later', 100_000, "'bulk'", "'queued', 1, 0, NULL, 9999999999999, NULL, NULL");
      insert('due', 10_000, "'tenant-' || i", `'queued', 0, 0, NULL, ${now - 60_000} + i, NULL, NULL`);
      const plans = [
        // The lease's three lookups, as src/store/sqlite/jobs.ts sends them.
        `SELECT seq FROM jobs WHERE state = 'running' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, seq LIMIT 1`,
        `SELECT tenant_id FROM tenant_queue WHERE next_due <= ?1 AND (?2 = 0 OR running < ?2)
           ORDER BY running, next_due, tenant_id LIMIT 1`,
        `SELECT seq FROM jobs WHERE tenant_id = 'tenant-7' AND state = 'queued' AND next_attempt_at <= ?1
           ORDER BY next_attempt_at, seq LIMIT 1`,
      ].map((sql) =>
        raw
          .prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all(...(sql.includes('?2') ? [now, 0] : [now]))
          .map((row) => String(row.detail)),
      );
      assert.deepEqual(plans, [
        ['SEARCH jobs USING COVERING INDEX jobs_running_expiry_idx (next_attempt_at<?)'],
        ['SCAN tenant_queue USING COVERING INDEX tenant_queue_pick_idx'],
        ['SEARCH jobs USING COVERING INDEX jobs_tenant_queued_idx (tenant_id=? AND next_attempt_at<?)'],
      ]);
    } finally {
      raw.close();
    }
    const timings: number[] = [];
    for (let index = 1; index <= 20; index++) {
      const started = performance.now();
      const leased = await store.jobs.lease(60_000);
      timings.push(performance.now() - started);
      // Every tenant has nothing running: the oldest due job goes first, tenant by tenant.
      assert.equal(leased?.job.id, `due-${index}`);
    }
    timings.sort((a, b) => a - b);
    assert.ok(timings[10]! < 5, `median lease took ${timings[10]} ms`);
  });

  test('tenant_queue equals a recount from jobs after a random mix of submits, leases, completions, retries, releases and sweeps', async () => {
    const store = await fixture.open();
    const raw = new DatabaseSync(fixture.file, { timeout: 3_000 });
    try {
      for (const seed of [1, 2, 3]) {
        await randomQueueMix(store, seededRandom(seed), 300);
        const stored = raw.prepare('SELECT tenant_id, running, next_due FROM tenant_queue').all();
        const recount = raw
          .prepare(`SELECT tenant_id, sum(state = 'running') AS running,
              min(CASE WHEN state = 'queued' THEN next_attempt_at END) AS next_due
            FROM jobs WHERE state <> 'done' GROUP BY tenant_id`)
          .all();
        assertMatchesRecount(stored as unknown as TenantQueueRow[], recount as unknown as TenantQueueRow[]);
      }
    } finally {
      raw.close();
    }
  });

  test('a file with unfinished jobs from before tenant_queue is backfilled with their counts', async () => {
    fileAtVersion(
      fixture.file,
      6,
      `INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, next_attempt_at,
        completed_at, result, result_status) VALUES
      ('q1', 'a', 'native', '{}', 'queued', 0, 0, 500, NULL, NULL, NULL),
      ('q2', 'a', 'native', '{}', 'queued', 0, 0, 300, NULL, NULL, NULL),
      ('r1', 'a', 'native', '{}', 'running', 1, 0, 9000, NULL, NULL, NULL),
      ('r2', 'b', 'native', '{}', 'running', 1, 0, 9000, NULL, NULL, NULL),
      ('d1', 'c', 'native', '{}', 'done', 1, 0, 0, 100, '{"status":"clean"}', 'clean')`,
    );
    await fixture.open();
    const reopened = new DatabaseSync(fixture.file);
    try {
      assert.deepEqual(
        reopened
          .prepare('SELECT tenant_id, running, next_due FROM tenant_queue ORDER BY tenant_id')
          .all()
          .map((row) => ({ ...row })),
        [
          { tenant_id: 'a', running: 1, next_due: 300 },
          { tenant_id: 'b', running: 1, next_due: null },
        ],
      );
    } finally {
      reopened.close();
    }
  });

  test('countUnfinished equals a recount from jobs after a random mix, per tenant and overall', async () => {
    const store = await fixture.open();
    const raw = new DatabaseSync(fixture.file, { timeout: 3_000 });
    try {
      for (const seed of [4, 5]) {
        await randomQueueMix(store, seededRandom(seed), 300);
        const recount = raw
          .prepare("SELECT tenant_id, count(*) AS n FROM jobs WHERE state <> 'done' GROUP BY tenant_id")
          .all() as { tenant_id: string; n: number }[];
        assert.ok(recount.length > 0, 'the mix leaves unfinished jobs to count');
        for (const { tenant_id, n } of recount) assert.equal(await store.jobs.countUnfinished(tenant_id), n);
        assert.equal(
          await store.jobs.countUnfinished(),
          recount.reduce((sum, { n }) => sum + n, 0),
        );
        assert.equal(await store.jobs.countUnfinished('nobody'), 0);
      }
    } finally {
      raw.close();
    }
  });

  test('a file from before 008 keeps refusing duplicate trace ids; its unfinished jobs without one leave the index', async () => {
    fileAtVersion(
      fixture.file,
      7,
      `INSERT INTO jobs (id, tenant_id, trace_id, dialect, source, state, attempts, created_at,
        next_attempt_at, completed_at, result, result_status) VALUES
      ('q1', 'a', 'trace-1', 'native', '{}', 'queued', 0, 0, 500, NULL, NULL, NULL),
      ('q2', 'a', NULL, 'native', '{}', 'queued', 0, 0, 300, NULL, NULL, NULL),
      ('r1', 'a', NULL, 'native', '{}', 'running', 1, 0, 9000, NULL, NULL, NULL),
      ('r2', 'b', 'trace-2', 'native', '{}', 'running', 1, 0, 9000, NULL, NULL, NULL),
      ('d1', 'a', 'trace-3', 'native', '{}', 'done', 1, 0, 0, 100, '{"status":"clean"}', 'clean')`,
    );
    const store = await fixture.open();
    const reopened = new DatabaseSync(fixture.file);
    try {
      const indexed = reopened
        .prepare(
          "SELECT id FROM jobs INDEXED BY jobs_unfinished_trace_idx WHERE tenant_id >= '' AND state <> 'done' AND trace_id IS NOT NULL ORDER BY id",
        )
        .all()
        .map((row) => row.id);
      assert.deepEqual(indexed, ['q1', 'r2']);
    } finally {
      reopened.close();
    }
    assert.equal(await store.jobs.countUnfinished('a'), 3);
    assert.equal(await store.jobs.countUnfinished('b'), 1);
    assert.equal(await store.jobs.countUnfinished(), 4);
    await assert.rejects(
      store.jobs.submit(newJob({ tenantId: 'a', traceId: 'trace-1' })),
      (error: unknown) => error instanceof ScanGateError && error.code === 'duplicate_trace_id',
    );
    // A finished job's trace id and a missing one are free to use.
    await store.jobs.submit(newJob({ tenantId: 'a', traceId: 'trace-3' }));
    await store.jobs.submit(newJob({ tenantId: 'a' }));
    assert.equal(await store.jobs.countUnfinished('a'), 5);
  });

  test('a file from before 009 moves its queued uploads into job_uploads; a lease still gets them, a completion or deleting the job removes them', async () => {
    fileAtVersion(
      fixture.file,
      8,
      `INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, next_attempt_at,
        upload_bytes) VALUES
      ('q1', 'a', 'native', '{"kind":"upload","blobKey":"k","size":3,"inline":true}', 'queued', 0, 0, 0, x'010203'),
      ('q2', 'a', 'native', '{"kind":"url","url":"https://example.com/"}', 'queued', 0, 0, 0, NULL)`,
    );
    const store = await fixture.open();
    const raw = new DatabaseSync(fixture.file, { timeout: 3_000 });
    const uploadsLeft = () => (raw.prepare('SELECT count(*) AS n FROM job_uploads').get() as { n: number }).n;
    try {
      const inRows = raw.prepare('SELECT count(*) AS n FROM jobs WHERE upload_bytes IS NOT NULL').get() as {
        n: number;
      };
      assert.equal(inRows.n, 0, 'no job row keeps its upload');
      assert.equal(uploadsLeft(), 1);
      const first = (await store.jobs.lease(60_000))!;
      assert.equal(first.job.id, 'q1');
      assert.deepEqual(Buffer.from(first.job.uploadBytes!), Buffer.from([1, 2, 3]));
      assert.equal(await store.jobs.complete(first.job.id, first.leaseToken, CLEAN), true);
      assert.equal(uploadsLeft(), 0, 'the completion deleted the upload');
      // A job removed unfinished (retention of another kind, an operator's DELETE) takes its upload along.
      const queued = await store.jobs.submit(newJob({ uploadBytes: Buffer.from([9]) }));
      assert.equal(uploadsLeft(), 1);
      raw.prepare('DELETE FROM jobs WHERE id = ?').run(queued.id);
      assert.equal(uploadsLeft(), 0);
    } finally {
      raw.close();
    }
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
      // The first sweep gives back the pages the migrations freed (on the thread); after it, a
      // store with nothing expired and no free page is swept without one.
      await db.sweepExpired(Date.now());
      assert.equal(db.get<{ n: number }>('SELECT freelist_count AS n FROM pragma_freelist_count()')!.n, 0);
      await sleep(idleMs * 3);
      assert.deepEqual(await db.sweepExpired(Date.now()), { jobs: 0, deliveries: 0 });
      assert.equal(db.runningThreads.maintenance, false, 'nothing to sweep: no thread');

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

  test('write commits are checkpointed on the maintenance thread, also while the event loop does not turn; the connection checkpoints itself only as a backstop', async () => {
    const db = new SqliteDatabase(fixture.file, { storeThreadIdleMs: 200 });
    db.open();
    try {
      const pragma = (name: string) => Object.values(db.get<object>(`PRAGMA ${name}`)!)[0] as number;
      assert.equal(pragma('wal_autocheckpoint'), 4_000, 'the backstop, above what the thread leaves');
      // Commits until the thread has run three checkpoints (the first waits for it to start), on
      // microtasks alone: the event loop never turns, so no reply of the thread is taken meanwhile.
      const insert = async (n: number) =>
        db.run("INSERT INTO api_keys VALUES (?, 't', ?, 'p', 0, NULL)", `key-${n}`, `hash-${n}`);
      const started = performance.now();
      let commits = 0;
      // Read once per pass: a checkpoint asked for by the last commit may end at any moment.
      let { checkpoints, frames } = db.backgroundCheckpoints;
      while (checkpoints < 3 && performance.now() - started < 20_000) {
        await insert(commits++);
        ({ checkpoints, frames } = db.backgroundCheckpoints);
      }
      // Three, or four when the one the last commit asked for ended before the read.
      assert.ok(checkpoints === 3 || checkpoints === 4, `${checkpoints} after ${commits} commits`);
      assert.ok(commits >= checkpoints * 64, `one checkpoint per 64 commits at most: ${commits}`);
      assert.ok(frames > 0, 'the checkpoints copied pages');
      // Reads run through statements too, but only writes count towards a checkpoint. A checkpoint
      // asked for by the last commits may still be running: counted from after it ends.
      await sleep(200);
      const settled = db.backgroundCheckpoints.checkpoints;
      assert.ok(settled - checkpoints <= 1, `at most the one in flight finished: ${settled}`);
      for (let index = 0; index < 200; index++) db.get('SELECT count(*) FROM api_keys');
      await sleep(50);
      assert.equal(db.backgroundCheckpoints.checkpoints, settled);
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

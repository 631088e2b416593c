import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as pause } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { SqliteDatabase } from '../../src/store/sqlite/database.ts';
import { sweepBacklog, sweepRestMs } from '../../src/store/sqlite/sweep.ts';
import { WriteTurn } from '../../src/store/sqlite/write-turn.ts';

describe('the SQLite write turn between the main connection and the sweep', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'scangate-turn-'));
  });
  afterEach(() => rm(directory, { recursive: true, force: true }));

  test('writes on the main connection with busy_timeout 0 all succeed while the sweep deletes 3,000 rows: they wait for the turn, never for SQLite’s lock', async () => {
    // busy_timeout 0: a main-thread write that met the sweep's write lock would fail with SQLITE_BUSY
    // at once (store_unavailable) instead of sleeping in the busy handler.
    const db = new SqliteDatabase(path.join(directory, 'turn.db'), { busyTimeoutMs: 0 });
    db.open();
    try {
      db.run(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
        INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, completed_at,
          next_attempt_at, result, result_status)
        SELECT 'old-' || i, 'tenant-' || (i % 7), 'native', '{}', 'done', 1, 1, 1, 0,
          '{"status":"clean"}', 'clean' FROM n`);
      let sweeping = true;
      const sweep = db.sweepExpired(Date.now()).finally(() => {
        sweeping = false;
      });
      let written = 0;
      // Each kind of main-thread write: a statement, a transaction, and INSERT … RETURNING via get().
      while (sweeping) {
        const id = `new-${written}`;
        const insertQueued = () =>
          db.run(
            `INSERT INTO jobs (id, tenant_id, dialect, source, state, created_at, next_attempt_at)
             VALUES (?, 'tenant-new', 'native', '{}', 'queued', ?, ?)`,
            id,
            Date.now(),
            Date.now(),
          );
        if (written % 3 === 0) {
          insertQueued();
        } else if (written % 3 === 1) {
          db.immediate(insertQueued);
        } else {
          const row = db.get<{ id: string }>(
            `INSERT INTO jobs (id, tenant_id, dialect, source, state, created_at, next_attempt_at)
             VALUES (?, 'tenant-new', 'native', '{}', 'queued', ?, ?) RETURNING id`,
            id,
            Date.now(),
            Date.now(),
          );
          assert.equal(row?.id, id);
        }
        written++;
        await pause();
      }
      assert.deepEqual(await sweep, { jobs: 3_000, deliveries: 0 });
      const kept = db.get<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE tenant_id = 'tenant-new'")!.n;
      assert.equal(kept, written, 'every write the main thread made during the sweep is there');
      const counts = db.writeTurn!.counts;
      assert.ok(counts.backgroundTurns >= 3_000 / 25, 'each sweep batch took the turn');
      assert.ok(counts.mainWaits > 0, 'the main thread met the sweep’s turn and waited for it');
      assert.equal(counts.mainWaitsGivenUp, 0);
      assert.equal(db.writeTurn!.holder, undefined, 'the sweep gave the turn back');
    } finally {
      await db.close();
    }
  });

  test('while the main thread writes, a sweep of results that expired over an hour takes a small share of the turn; once writes stop it finishes at full speed', async () => {
    const db = new SqliteDatabase(path.join(directory, 'paced.db'));
    db.open();
    try {
      // 5,000 results completed over an hour, a day and a half ago: a backlog built up over 13 hours
      // at 0.1 rows/s, so catching up asks for less than the foreground duty.
      const dayAndHalfAgo = Date.now() - 36 * 3_600_000;
      db.run(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
         INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, completed_at,
           next_attempt_at, result, result_status)
         SELECT 'old-' || i, 'tenant-' || (i % 7), 'native', '{}', 'done', 1, ?1, ?1 + i * 720, 0,
           '{"status":"clean"}', 'clean' FROM n`,
        dayAndHalfAgo,
      );
      const remaining = () =>
        db.get<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE id LIKE 'old-%'")!.n;
      let sweepDone = false;
      const sweep = db.sweepExpired(Date.now() - 24 * 3_600_000).finally(() => {
        sweepDone = true;
      });
      const writeUntil = performance.now() + 1_500;
      for (let index = 0; performance.now() < writeUntil && !sweepDone; index++) {
        db.run(
          `INSERT INTO jobs (id, tenant_id, dialect, source, state, created_at, next_attempt_at)
           VALUES (?, 'tenant-new', 'native', '{}', 'queued', ?, ?)`,
          `new-${index}`,
          Date.now(),
          Date.now(),
        );
        await pause(2);
      }
      const deletedWhileWriting = 5_000 - remaining();
      // At half the turn (as without writes) 1.5 s deletes thousands; at 1/200 of it, tens to hundreds.
      assert.ok(deletedWhileWriting > 0, 'the sweep goes on while requests write');
      assert.ok(
        deletedWhileWriting < 1_000,
        `deleted ${deletedWhileWriting} of 5,000 while the main thread wrote`,
      );
      assert.deepEqual(await sweep, { jobs: 5_000, deliveries: 0 });
      assert.equal(remaining(), 0);
    } finally {
      await db.close();
    }
  });

  test('closing the store mid-sweep ends the maintenance thread and leaves the turn free', async () => {
    const db = new SqliteDatabase(path.join(directory, 'closed.db'));
    db.open();
    db.run(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
      INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, completed_at,
        next_attempt_at, result, result_status)
      SELECT 'old-' || i, 'tenant-' || (i % 7), 'native', '{}', 'done', 1, 1, 1, 0,
        '{"status":"clean"}', 'clean' FROM n`);
    const sweep = db.sweepExpired(Date.now());
    // Closed once the sweep has taken the turn at least once: it may hold it right now.
    while (db.writeTurn!.counts.backgroundTurns === 0) await pause(1);
    const refused = assert.rejects(sweep, { code: 'store_unavailable' });
    await db.close();
    await refused;
    assert.equal(db.writeTurn!.holder, undefined);
  });

  test('a turn left by a thread that died mid-write costs one bounded wait, then is freed when the thread is gone', async () => {
    const shared = WriteTurn.share();
    const main = new WriteTurn(shared, 'main');
    const holder = new Worker(new URL('./fixtures/write-turn-holder.ts', import.meta.url), {
      workerData: { shared },
    });
    try {
      await once(holder, 'message');
      assert.equal(main.holder, 'background');
      // The thread holds the turn and will never give it back: the write waits its limit, then runs.
      assert.equal(
        main.hold(() => 'written'),
        'written',
      );
      assert.deepEqual(main.counts, { mainTurns: 1, mainWaits: 1, mainWaitsGivenUp: 1, backgroundTurns: 1 });
    } finally {
      await holder.terminate();
    }
    main.freeAbandoned();
    assert.equal(main.holder, undefined);
    assert.equal(
      main.hold(() => 'written'),
      'written',
    );
    assert.equal(main.counts.mainWaits, 1, 'the freed turn was taken without waiting');
  });
});

describe('the pace of the SQLite retention sweep', () => {
  const step = { ms: 1, rows: 25 };

  test('without requests writing it rests as long as its step', () => {
    assert.equal(sweepRestMs({ ms: 2, rows: 25 }, false, sweepBacklog(1_000_000, 0, 1_000)), 2);
    assert.equal(sweepRestMs({ ms: 2, rows: 25 }, false), 2);
  });

  test('while requests write it holds the turn one step in 200, and rests a second at most', () => {
    assert.equal(sweepRestMs(step, true), 199);
    assert.equal(sweepRestMs({ ms: 70, rows: 25 }, true), 1_000);
  });

  test('while requests write it still deletes twice as fast as its backlog built up', () => {
    // 250,000 rows whose oldest expired an hour ago: 69 rows/s; twice that is 25 rows every 180 ms.
    const anHour = sweepBacklog(250_000, 0, 3_600_000);
    assert.equal(Math.round(sweepRestMs(step, true, anHour)), 179);
    // The same rows expired within the last minute: twice 4,167 rows/s is 25 rows every 3 ms.
    const aMinute = sweepBacklog(250_000, 3_540_000, 3_600_000);
    assert.equal(Math.round(sweepRestMs(step, true, aMinute)), 2);
    // A small backlog spread over an hour asks for less than the duty: the duty decides.
    assert.equal(sweepRestMs(step, true, sweepBacklog(1_000, 0, 3_600_000)), 199);
  });

  test('an empty backlog asks for nothing, and a step is never followed by a shorter rest', () => {
    assert.deepEqual(sweepBacklog(0, null, 1_000), { rows: 0, rowsPerMs: 0 });
    assert.equal(sweepRestMs({ ms: 3, rows: 25 }, true, sweepBacklog(25, 999, 1_000)), 3);
  });
});

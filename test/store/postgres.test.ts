import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ScanGateError } from '../../src/errors.ts';
import { STRICT_POLICY } from '../../src/policy/policy.ts';
import type { Store } from '../../src/store/contracts.ts';
import { loadMigrations } from '../../src/store/migrations.ts';
import { PostgresDatabase } from '../../src/store/postgres/database.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { runSql, TEST_DATABASE_URL, testSchema } from '../support/postgres.ts';
import { CLEAN, newJob } from './contract/fixtures.ts';
import { jobStoreContract, type StoreFixture } from './contract.ts';
import {
  assertMatchesRecount,
  randomQueueMix,
  seededRandom,
  type TenantQueueRow,
} from './tenant-queue-mix.ts';

async function tenantQueueRows(schema: string, source: 'stored' | 'recount'): Promise<TenantQueueRow[]> {
  const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;
  const { rows } =
    source === 'stored'
      ? await runSql(`SELECT tenant_id, ${epochMs('next_due')} AS next_due FROM "${schema}".tenant_queue`)
      : await runSql(
          `SELECT tenant_id, ${epochMs('min(next_attempt_at)')} AS next_due
           FROM "${schema}".jobs WHERE state = 'queued' GROUP BY tenant_id`,
        );
  return rows as TenantQueueRow[];
}

async function assertTenantQueueMatches(schema: string): Promise<void> {
  assertMatchesRecount(await tenantQueueRows(schema, 'stored'), await tenantQueueRows(schema, 'recount'));
}

async function postgresFixture(): Promise<StoreFixture & { schema: string }> {
  const { connectionString, schema, drop } = testSchema();
  const opened: Store[] = [];
  return {
    schema,
    async open() {
      const store = new PostgresStore(connectionString, 4, schema);
      opened.push(store);
      await store.init();
      assert.equal(store.kind, 'postgres');
      return store;
    },
    async destroy() {
      for (const store of opened) await store.close();
      await drop();
    },
  };
}

function isUnavailable(error: unknown): boolean {
  return error instanceof ScanGateError && error.code === 'store_unavailable' && error.retryable;
}

describe('PostgresStore contract', () => {
  jobStoreContract(postgresFixture);
});

describe('PostgresStore on a server', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>;
  beforeEach(async () => {
    fixture = await postgresFixture();
  });
  afterEach(() => fixture.destroy());

  test('a transaction stalled in its process is ended by the server, so its row locks hold up no other node', async () => {
    await fixture.open();
    const table = `"${fixture.schema}".stall_probe`;
    await runSql(`CREATE TABLE ${table} (id integer PRIMARY KEY, n integer NOT NULL)`);
    await runSql(`INSERT INTO ${table} VALUES (1, 0)`);
    const stalling = new PostgresDatabase(TEST_DATABASE_URL, 1, fixture.schema, {
      stalledTransactionMs: 300,
    });
    const stalledUntil = Promise.withResolvers<void>();
    const holdsTheRow = Promise.withResolvers<void>();
    const stalled = stalling.transaction(async (client) => {
      await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = 1`);
      holdsTheRow.resolve();
      await stalledUntil.promise; // the process stops here, holding the row
      await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = 1`);
    });
    await holdsTheRow.promise;
    // Another node's write waits for that row until the server ends the stalled transaction.
    await runSql(`UPDATE ${table} SET n = n + 10 WHERE id = 1`);
    stalledUntil.resolve();
    await assert.rejects(stalled, (error) => error instanceof ScanGateError);
    assert.deepEqual(
      (await runSql(`SELECT n FROM ${table}`)).rows,
      [{ n: 10 }],
      'the stalled writes rolled back',
    );
    // The pool dropped the ended connection: the next transaction gets a working one.
    assert.equal(
      await stalling.transaction(async (client) => (await client.query('SELECT 1 AS one')).rows[0].one),
      1,
    );
    await stalling.close();
  });

  test('nodes starting together migrate a fresh schema once (advisory lock)', async () => {
    const stores = await Promise.all([...Array(6)].map(() => fixture.open()));
    await stores[0]!.init(); // and again: nothing left to do
    const { rows } = await runSql(
      `SELECT version FROM "${fixture.schema}".schema_migrations ORDER BY version`,
    );
    assert.deepEqual(
      rows.map((row) => row.version),
      loadMigrations('postgres').map((migration) => migration.version),
    );
    await stores[5]!.jobs.submit(newJob());
    assert.equal(await stores[0]!.jobs.countUnfinished(), 1);
  });

  test('a schema migrated to 002 (fair picking) before content policies is brought forward to the latest (tenant and job policies)', async () => {
    const schema = `"${fixture.schema}"`;
    await runSql(`CREATE SCHEMA ${schema}`);
    await runSql(`CREATE TABLE ${schema}.schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    for (const migration of loadMigrations('postgres').filter((candidate) => candidate.version <= 2)) {
      await runSql(`SET search_path TO ${schema}; ${migration.sql}; RESET search_path`);
      await runSql(`INSERT INTO ${schema}.schema_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
    const store = await fixture.open();
    const job = await store.jobs.submit(newJob({ policy: STRICT_POLICY }));
    assert.deepEqual((await store.jobs.get(job.tenantId, job.id))?.policy, STRICT_POLICY);
    await store.policies.set(job.tenantId, STRICT_POLICY);
    assert.deepEqual(await store.policies.get(job.tenantId), STRICT_POLICY);
    const { rows } = await runSql(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
    assert.deepEqual(
      rows.map((row) => row.version),
      loadMigrations('postgres').map((migration) => migration.version),
    );
  });

  test('an unreachable server is store_unavailable and retryable', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const store = new PostgresStore('postgres://postgres@127.0.0.1:1/test', 2, fixture.schema);
    try {
      await assert.rejects(store.init(), isUnavailable);
      await assert.rejects(store.ping(), isUnavailable);
      await assert.rejects(store.jobs.submit(newJob()), isUnavailable);
      await assert.rejects(store.jobs.lease(1_000), isUnavailable);
      await assert.rejects(store.jobs.sweepExpired(new Date()), isUnavailable);
    } finally {
      await store.close();
    }
  });

  test('a lease is index lookups, not a walk over tenants: fast with 60k finished, 40k later jobs and 10,000 tenants queued', async () => {
    const store = await fixture.open();
    const jobs = `"${fixture.schema}".jobs`;
    const tenantQueue = `"${fixture.schema}".tenant_queue`;
    await runSql(`INSERT INTO ${jobs} (id, tenant_id, dialect, source, state, attempts, completed_at,
        next_attempt_at, result, result_status)
      SELECT 'done-' || i, 'bulk', 'native', '{}', 'done', 1, now(), now(), '{"status":"clean"}', 'clean'
      FROM generate_series(1, 60000) i`);
    await runSql(`INSERT INTO ${jobs} (id, tenant_id, dialect, source, state, attempts, next_attempt_at)
      SELECT 'later-' || i, 'bulk', 'native', '{}', 'queued', 1, now() + interval '1 day'
      FROM generate_series(1, 40000) i`);
    await runSql(`INSERT INTO ${jobs} (id, tenant_id, dialect, source, state, next_attempt_at)
      SELECT 'due-' || i, 'tenant-' || i, 'native', '{}', 'queued', now() - interval '1 minute' + i * interval '1 ms'
      FROM generate_series(1, 10000) i`);
    await runSql(`ANALYZE ${jobs}`);
    await runSql(`ANALYZE ${tenantQueue}`);
    const plans = [];
    // The lease's three lookups, as src/store/postgres/jobs.ts sends them.
    for (const sql of [
      `SELECT seq FROM ${jobs} WHERE state = 'running' AND next_attempt_at <= now()
         ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
      `SELECT q.tenant_id FROM ${tenantQueue} q WHERE q.next_due <= now()
         AND NOT EXISTS (SELECT 1 FROM ${jobs} r WHERE r.tenant_id = q.tenant_id AND r.state = 'running')
         ORDER BY q.next_due, q.tenant_id LIMIT 1 FOR UPDATE SKIP LOCKED`,
      `SELECT seq FROM ${jobs} WHERE tenant_id = 'tenant-7' AND state = 'queued' AND next_attempt_at <= now()
         ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
    ]) {
      const { rows } = await runSql(`EXPLAIN ${sql}`);
      plans.push(rows.map((row) => String(row['QUERY PLAN'])).join('\n'));
    }
    assert.match(plans[0]!, /Index Scan using jobs_running_expiry_idx/);
    assert.match(plans[1]!, /Index Scan using tenant_queue_due_idx/);
    assert.match(plans[2]!, /Index Scan using jobs_tenant_queued_idx/);
    for (const plan of plans) assert.doesNotMatch(plan, /Sort|Seq Scan/);

    const timings: number[] = [];
    for (let index = 1; index <= 20; index++) {
      const started = performance.now();
      const leased = await store.jobs.lease(60_000);
      timings.push(performance.now() - started);
      // Every tenant has nothing running: the oldest due job goes first, tenant by tenant.
      assert.equal(leased?.job.id, `due-${index}`);
    }
    timings.sort((a, b) => a - b);
    assert.ok(timings[10]! < 10, `median lease took ${timings[10]} ms`);
  });

  test('tenant_queue equals a recount from jobs after a random mix of submits, leases, completions, retries, releases and sweeps', async () => {
    const store = await fixture.open();
    for (const seed of [1, 2, 3]) {
      await randomQueueMix(store, seededRandom(seed), 300);
      await assertTenantQueueMatches(fixture.schema);
    }
  });

  test('concurrent submitMany, leaseMany, completeMany, retries and releases over interleaved tenants finish without a deadlock', async () => {
    const nodes = await Promise.all([...Array(4)].map(() => fixture.open()));
    const tenants = ['t-0', 't-1', 't-2', 't-3', 't-4', 't-5'];
    const until = performance.now() + 4_000;
    let rounds = 0;
    const node = async (store: Store, index: number) => {
      const random = seededRandom(100 + index);
      const pick = () => tenants[Math.floor(random() * tenants.length)]!;
      while (performance.now() < until) {
        rounds++;
        // Batches that name several tenants in no particular order: the lock order is the store's job.
        await store.jobs.submitMany(Array.from({ length: 6 }, () => newJob({ tenantId: pick() })));
        const leased = await store.jobs.leaseMany(60_000, 6, { maxRunningPerTenant: random() < 0.5 ? 3 : 0 });
        const finishing = leased.filter(() => random() < 0.7);
        await store.jobs.completeMany(
          finishing.map((one) => ({ jobId: one.job.id, leaseToken: one.leaseToken, result: CLEAN })),
        );
        for (const one of leased.filter((candidate) => !finishing.includes(candidate))) {
          if (random() < 0.5) await store.jobs.release(one.job.id, one.leaseToken);
          else await store.jobs.retry(one.job.id, one.leaseToken, 'transient', new Date(Date.now() - 1));
        }
      }
    };
    const outcomes = await Promise.allSettled(nodes.map(node));
    const failures = outcomes.filter((outcome) => outcome.status === 'rejected');
    assert.deepEqual(failures, [], 'no transaction failed (a deadlock is SQLSTATE 40P01)');
    assert.ok(rounds > 20, `only ${rounds} rounds ran`);
    // Leases that found a tenant's row held leave its next_due early, never late; the sweep looks
    // the ones with nothing due up again.
    await nodes[0]!.jobs.sweepExpired(new Date(0));
    const stored = await tenantQueueRows(fixture.schema, 'stored');
    const recount = await tenantQueueRows(fixture.schema, 'recount');
    for (const { tenant_id, next_due } of recount) {
      const row = stored.find((candidate) => candidate.tenant_id === tenant_id);
      assert.ok(row?.next_due != null && row.next_due <= next_due!, `${tenant_id}: next_due is not late`);
    }
    for (const row of stored.filter(
      (candidate) => candidate.next_due !== null && candidate.next_due <= Date.now(),
    )) {
      assert.ok(
        recount.some((due) => due.tenant_id === row.tenant_id),
        `${row.tenant_id}: repaired`,
      );
    }
  });

  test('concurrent completeMany batches caching the same file hashes in opposite order finish without a deadlock', async () => {
    const nodes = await Promise.all([...Array(2)].map(() => fixture.open()));
    const hashes = ['1', '2', '3'].map((digit) => digit.repeat(64));
    const cacheEntry = (sha256: string) => ({
      sha256,
      cacheKey: 'clamav-1.4.6/27000',
      result: { ...CLEAN, sha256 },
    });
    const failures: unknown[] = [];
    for (let round = 0; round < 40; round++) {
      // Both batches finish jobs of one tenant (so both write its verdict counter row) and cache the
      // same hashes, one batch in the other's reverse order; single completions run beside them.
      // Four jobs to a batch over three hashes: a batch caches one hash twice.
      await nodes[0]!.jobs.submitMany(Array.from({ length: 10 }, () => newJob({ tenantId: 't-cache' })));
      const leased = await nodes[0]!.jobs.leaseMany(60_000, 10);
      assert.equal(leased.length, 10);
      const complete = (store: Store, jobs: typeof leased, order: string[]) =>
        store.jobs.completeMany(
          jobs.map((one, index) => ({
            jobId: one.job.id,
            leaseToken: one.leaseToken,
            result: CLEAN,
            verdictCacheEntry: cacheEntry(order[index % order.length]!),
          })),
        );
      const outcomes = await Promise.allSettled([
        complete(nodes[0]!, leased.slice(0, 4), hashes),
        complete(nodes[1]!, leased.slice(4, 8), hashes.toReversed()),
        complete(nodes[0]!, leased.slice(8, 9), [hashes[2]!]),
        complete(nodes[1]!, leased.slice(9, 10), [hashes[0]!]),
      ]);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') failures.push(outcome.reason);
        else assert.ok(outcome.value.every(Boolean), 'every completion stored its result');
      }
    }
    assert.deepEqual(failures, [], 'no transaction failed (a deadlock is SQLSTATE 40P01)');
    for (const sha256 of hashes) {
      assert.deepEqual(await nodes[1]!.verdicts.get(sha256, 'clamav-1.4.6/27000'), { ...CLEAN, sha256 });
    }
  });

  test("a schema with queued jobs from before tenant_queue is backfilled with each tenant's oldest due time", async () => {
    const schema = `"${fixture.schema}"`;
    await runSql(`CREATE SCHEMA ${schema}`);
    for (const migration of loadMigrations('postgres').filter((candidate) => candidate.version <= 6)) {
      await runSql(`SET search_path TO ${schema}; ${migration.sql}`);
    }
    await runSql(`SET search_path TO ${schema};
      CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO schema_migrations (version, name) VALUES (6, 'verdict_counts');
      INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, next_attempt_at) VALUES
        ('q1', 'a', 'native', '{}', 'queued', 0, '2026-01-01T00:00:05Z'),
        ('q2', 'a', 'native', '{}', 'queued', 0, '2026-01-01T00:00:03Z'),
        ('r1', 'a', 'native', '{}', 'running', 1, '2026-01-02T00:00:00Z'),
        ('r2', 'b', 'native', '{}', 'running', 1, '2026-01-02T00:00:00Z');`);
    await fixture.open();
    const { rows } = await runSql(
      `SELECT tenant_id, next_due FROM ${schema}.tenant_queue ORDER BY tenant_id`,
    );
    assert.deepEqual(rows, [{ tenant_id: 'a', next_due: new Date('2026-01-01T00:00:03Z') }]);
  });
});

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ScanGateError } from '../../src/errors.ts';
import { STRICT_POLICY } from '../../src/policy/policy.ts';
import type { Store } from '../../src/store/contracts.ts';
import { loadMigrations } from '../../src/store/migrations.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { runSql, testSchema } from '../support/postgres.ts';
import { newJob } from './contract/fixtures.ts';
import { jobStoreContract, type StoreFixture } from './contract.ts';

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

  test('the lease query scans jobs_lease_idx and stays fast with 60k finished and 40k later jobs', async () => {
    const store = await fixture.open();
    const jobs = `"${fixture.schema}".jobs`;
    await runSql(`INSERT INTO ${jobs} (id, tenant_id, dialect, source, state, attempts, completed_at,
        next_attempt_at, result, result_status)
      SELECT 'done-' || i, 'bulk', 'native', '{}', 'done', 1, now(), now(), '{"status":"clean"}', 'clean'
      FROM generate_series(1, 60000) i`);
    await runSql(`INSERT INTO ${jobs} (id, tenant_id, dialect, source, state, attempts, next_attempt_at)
      SELECT 'later-' || i, 'bulk', 'native', '{}', 'queued', 1, now() + interval '1 day'
      FROM generate_series(1, 40000) i`);
    await runSql(`INSERT INTO ${jobs} (id, tenant_id, dialect, source, state, next_attempt_at)
      SELECT 'due-' || i, 'bulk', 'native', '{}', 'queued', now() - interval '1 minute'
      FROM generate_series(1, 20) i`);
    await runSql(`ANALYZE ${jobs}`);
    const { rows } =
      await runSql(`EXPLAIN SELECT seq FROM ${jobs} WHERE state <> 'done' AND next_attempt_at <= now()
      ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED`);
    const plan = rows.map((row) => String(row['QUERY PLAN'])).join('\n');
    assert.match(plan, /Index Scan using jobs_lease_idx/);
    assert.doesNotMatch(plan, /Sort|Seq Scan/);

    const timings: number[] = [];
    for (let index = 0; index < 20; index++) {
      const started = performance.now();
      assert.ok((await store.jobs.lease(60_000))?.job.id.startsWith('due-'));
      timings.push(performance.now() - started);
    }
    timings.sort((a, b) => a - b);
    assert.ok(timings[10]! < 10, `median lease took ${timings[10]} ms`);
    assert.equal(await store.jobs.lease(60_000), undefined);
  });
});

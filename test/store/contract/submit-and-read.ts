import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertNear,
  CLEAN,
  type ContractContext,
  finishedJob,
  HOUR_MS,
  INFECTED,
  newJob,
  rejectsWithCode,
  UNSCANNABLE,
} from './fixtures.ts';

export function submitAndReadContract(context: ContractContext): void {
  test('jobs.submit stores a queued job that reads back whole, only for its tenant', async () => {
    const store = context.store();
    const input = newJob({
      traceId: 'trace-1',
      callback: { url: 'https://receiver.example.com/cb', headers: { 'x-token': 't' } },
      customData: '{"order":42,"note":"ünïcode"}',
      source: {
        kind: 'upload',
        blobKey: 'uploads/ab/cd',
        filename: 'a.pdf',
        size: 10,
        sha256: 'f'.repeat(64),
      },
    });
    const before = Date.now();
    const job = await store.jobs.submit(input);
    assert.deepEqual(
      { ...job, createdAt: undefined, nextAttemptAt: undefined },
      {
        ...input,
        state: 'queued',
        attempts: 0,
        createdAt: undefined,
        nextAttemptAt: undefined,
      },
    );
    assertNear(job.createdAt, before, 'createdAt');
    assert.ok(job.nextAttemptAt.getTime() <= job.createdAt.getTime() + 1, 'eligible at once');
    assert.deepEqual(await store.jobs.get('tenant-a', job.id), job);
    assert.deepEqual(await store.jobs.getByTraceId('tenant-a', 'trace-1'), job);

    assert.equal(await store.jobs.get('tenant-b', job.id), undefined, 'a foreign id is not found');
    assert.equal(await store.jobs.getByTraceId('tenant-b', 'trace-1'), undefined);
    assert.equal(await store.jobs.get('tenant-a', crypto.randomUUID()), undefined);
    assert.equal(await store.jobs.getByTraceId('tenant-a', 'no-such-trace'), undefined);
    assert.deepEqual(await store.jobs.list('tenant-b', { limit: 10 }), []);
  });

  test('a job without optional fields reads back without them', async () => {
    const store = context.store();
    const input = newJob({ source: { kind: 's3', bucket: 'b', key: 'k/é' } });
    const job = await store.jobs.submit(input);
    for (const field of [
      'traceId',
      'callback',
      'customData',
      'startedAt',
      'completedAt',
      'lastError',
      'result',
    ])
      assert.equal(field in job, false, `${field} should be absent`);
    assert.deepEqual(await store.jobs.get('tenant-a', input.id), job);
  });

  test('NUL characters are refused the same way by both stores', async () => {
    await rejectsWithCode(context.store().jobs.submit(newJob({ customData: 'a\u0000b' })), 'invalid_request');
    assert.equal(await context.store().jobs.countUnfinished(), 0);
  });

  test('a trace id is unique per tenant while its job is unfinished, and reusable after', async () => {
    const store = context.store();
    const first = await store.jobs.submit(newJob({ traceId: 'T' }));
    await rejectsWithCode(store.jobs.submit(newJob({ traceId: 'T' })), 'duplicate_trace_id');
    const otherTenant = await store.jobs.submit(newJob({ tenantId: 'tenant-b', traceId: 'T' }));
    assert.equal((await store.jobs.getByTraceId('tenant-b', 'T'))?.id, otherTenant.id);

    const leased = await store.jobs.lease(60_000);
    assert.equal(leased?.job.id, first.id);
    await rejectsWithCode(store.jobs.submit(newJob({ traceId: 'T' })), 'duplicate_trace_id');
    assert.equal(await store.jobs.complete(first.id, leased.leaseToken, CLEAN), true);

    const second = await store.jobs.submit(newJob({ traceId: 'T' }));
    assert.equal((await store.jobs.getByTraceId('tenant-a', 'T'))?.id, second.id, 'the newest job wins');
    assert.equal((await store.jobs.get('tenant-a', first.id))?.result?.status, 'clean', 'the old one stays');
    await rejectsWithCode(store.jobs.submit(newJob({ traceId: 'T' })), 'duplicate_trace_id');
  });

  test('concurrent submits of one trace id: exactly one is accepted', async () => {
    const stores = [context.store(), ...(await Promise.all([1, 2, 3, 4, 5].map(() => context.open())))];
    const outcomes = await Promise.allSettled(
      stores.map((store) => store.jobs.submit(newJob({ traceId: 'race' }))),
    );
    const accepted = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    assert.equal(accepted.length, 1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected')
        assert.equal((outcome.reason as { code?: string }).code, 'duplicate_trace_id');
    }
    assert.equal(await context.store().jobs.countUnfinished('tenant-a'), 1);
  });

  test('jobs.list: newest first, filtered by status, limited, paged by creation time', async () => {
    const store = context.store();
    const clean1 = await finishedJob(store, CLEAN);
    const infected = await finishedJob(store, INFECTED);
    const clean2 = await finishedJob(store, CLEAN);
    const unscannable = await finishedJob(store, UNSCANNABLE);
    const queued = await store.jobs.submit(newJob());
    await store.jobs.submit(newJob({ tenantId: 'tenant-b' }));

    const all = await store.jobs.list('tenant-a', { limit: 100 });
    assert.deepEqual(
      all.map((job) => job.id),
      [queued, unscannable, clean2, infected, clean1].map((job) => job.id),
    );
    const ids = async (filter: Parameters<typeof store.jobs.list>[1]) =>
      (await store.jobs.list('tenant-a', filter)).map((job) => job.id);
    assert.deepEqual(await ids({ limit: 100, status: 'pending' }), [queued.id]);
    assert.deepEqual(await ids({ limit: 100, status: 'clean' }), [clean2.id, clean1.id]);
    assert.deepEqual(await ids({ limit: 100, status: 'infected' }), [infected.id]);
    assert.deepEqual(await ids({ limit: 100, status: 'unscannable' }), [unscannable.id]);
    assert.deepEqual(await ids({ limit: 2 }), [queued.id, unscannable.id]);
    const before = clean2.createdAt;
    const expected = all.filter((job) => job.createdAt < before).map((job) => job.id);
    assert.deepEqual(await ids({ limit: 100, before }), expected);
    assert.deepEqual(await ids({ limit: 100, before: new Date(clean1.createdAt.getTime()) }), []);
  });

  test('jobs.countVerdicts counts finished jobs per epoch-aligned bucket since an instant', async () => {
    const store = context.store();
    await finishedJob(store, CLEAN);
    await finishedJob(store, CLEAN);
    await finishedJob(store, INFECTED);
    await finishedJob(store, UNSCANNABLE);
    await finishedJob(store, CLEAN, { tenantId: 'tenant-b' });
    await store.jobs.submit(newJob());

    const buckets = await store.jobs.countVerdicts('tenant-a', new Date(Date.now() - HOUR_MS), 3600);
    assert.ok(buckets.length >= 1 && buckets.length <= 2, 'the jobs finished within one or two hours');
    for (const bucket of buckets) assert.equal(bucket.bucketStart.getTime() % HOUR_MS, 0);
    const sum = (key: 'clean' | 'infected' | 'unscannable') =>
      buckets.reduce((total, bucket) => total + bucket[key], 0);
    assert.deepEqual([sum('clean'), sum('infected'), sum('unscannable')], [2, 1, 1]);

    assert.deepEqual(await store.jobs.countVerdicts('tenant-a', new Date(Date.now() + HOUR_MS), 60), []);
    assert.deepEqual(await store.jobs.countVerdicts('tenant-c', new Date(0), 60), []);
  });

  test('jobs.countVerdicts answers hourly and daily buckets from the counters exactly as a count would, until a sweep removes the results', async () => {
    const store = context.store();
    await finishedJob(store, CLEAN);
    await finishedJob(store, INFECTED);
    await finishedJob(store, CLEAN, { tenantId: 'tenant-b' });
    const total = (buckets: { clean: number; infected: number }[]) =>
      buckets.reduce((sum, bucket) => [sum[0]! + bucket.clean, sum[1]! + bucket.infected], [0, 0]);
    // A mid-hour start (the part-hour counted from the table), an hour boundary, and daily buckets.
    for (const [since, bucketSeconds] of [
      [new Date(Date.now() - 90 * 60_000), 3600],
      [new Date(Math.floor(Date.now() / HOUR_MS - 2) * HOUR_MS), 3600],
      [new Date(Date.now() - 72 * HOUR_MS), 86_400],
    ] as const) {
      const buckets = await store.jobs.countVerdicts('tenant-a', since, bucketSeconds);
      assert.deepEqual(total(buckets), [1, 1], `since ${since.toISOString()} by ${bucketSeconds} s`);
      for (const bucket of buckets) assert.equal(bucket.bucketStart.getTime() % (bucketSeconds * 1000), 0);
    }
    assert.deepEqual(await store.jobs.countVerdicts('tenant-a', new Date(Date.now() + HOUR_MS), 3600), []);

    await store.jobs.sweepExpired(new Date(Date.now() + 60_000));
    assert.deepEqual(await store.jobs.countVerdicts('tenant-a', new Date(Date.now() - HOUR_MS), 3600), []);
    assert.deepEqual(await store.jobs.countVerdicts('tenant-b', new Date(0), 86_400), []);
    await finishedJob(store, UNSCANNABLE);
    const after = await store.jobs.countVerdicts('tenant-a', new Date(Date.now() - HOUR_MS), 3600);
    assert.deepEqual(
      after.reduce((sum, bucket) => sum + bucket.unscannable + bucket.clean + bucket.infected, 0),
      1,
    );
  });

  test('jobs.countUnfinished counts queued and running jobs, per tenant or overall', async () => {
    const store = context.store();
    await finishedJob(store, CLEAN);
    await store.jobs.submit(newJob());
    await store.jobs.submit(newJob());
    await store.jobs.submit(newJob({ tenantId: 'tenant-b' }));
    assert.ok(await store.jobs.lease(60_000));
    assert.equal(await store.jobs.countUnfinished('tenant-a'), 2);
    assert.equal(await store.jobs.countUnfinished('tenant-b'), 1);
    assert.equal(await store.jobs.countUnfinished('tenant-c'), 0);
    assert.equal(await store.jobs.countUnfinished(), 3);
  });
}

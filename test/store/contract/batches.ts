import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScanGateError } from '../../../src/errors.ts';
import type { LeasedJob } from '../../../src/store/contracts.ts';
import { CLEAN, type ContractContext, INFECTED, newDelivery, newJob } from './fixtures.ts';

function codeOf(error: unknown): string | undefined {
  return error instanceof ScanGateError ? error.code : undefined;
}

export function batchesContract(context: ContractContext): void {
  test('jobs.leaseMany picks the sequence single leases would: tenants take turns, oldest first', async () => {
    const store = context.store();
    assert.deepEqual(await store.jobs.leaseMany(60_000, 4), [], 'nothing to lease in an empty store');
    const submitted = new Map<string, string>();
    for (let index = 0; index < 3; index++) {
      for (const tenantId of ['tenant-x', 'tenant-y']) {
        const job = await store.jobs.submit(newJob({ tenantId }));
        submitted.set(job.id, tenantId);
      }
    }
    const first = await store.jobs.leaseMany(60_000, 4);
    assert.deepEqual(
      first.map((leased) => leased.job.tenantId),
      ['tenant-x', 'tenant-y', 'tenant-x', 'tenant-y'],
    );
    for (const leased of first) {
      assert.equal(leased.job.state, 'running');
      assert.equal(leased.job.attempts, 1);
    }
    assert.equal(new Set(first.map((leased) => leased.leaseToken)).size, 4, 'every job has its own token');
    const rest = await store.jobs.leaseMany(60_000, 4);
    assert.equal(rest.length, 2, 'fewer than asked: nothing else is due');
    assert.deepEqual(
      new Set([...first, ...rest].map((leased) => leased.job.id)),
      new Set(submitted.keys()),
      'each job leased once',
    );
    assert.deepEqual(await store.jobs.leaseMany(60_000, 4), []);
  });

  test('jobs.leaseMany holds maxRunningPerTenant inside one batch', async () => {
    const store = context.store();
    for (let index = 0; index < 4; index++) await store.jobs.submit(newJob({ tenantId: 'capped' }));
    await store.jobs.submit(newJob({ tenantId: 'other' }));
    const limit = { maxRunningPerTenant: 2 };
    const leased = await store.jobs.leaseMany(60_000, 10, limit);
    assert.deepEqual(leased.map((one) => one.job.tenantId).sort(), ['capped', 'capped', 'other']);
    assert.deepEqual(await store.jobs.leaseMany(60_000, 10, limit), [], 'the capped tenant waits');
    const capped = leased.find((one) => one.job.tenantId === 'capped')!;
    assert.ok(await store.jobs.complete(capped.job.id, capped.leaseToken, CLEAN));
    assert.equal((await store.jobs.leaseMany(60_000, 10, limit)).length, 1, 'a finished job frees one slot');
  });

  test('two nodes leasing batches at once lease each of 120 jobs exactly once', async () => {
    const nodes = [context.store(), await context.open()];
    for (let index = 0; index < 120; index++) {
      await nodes[0]!.jobs.submit(newJob({ tenantId: `tenant-${index % 3}` }));
    }
    const leasedIds: string[] = [];
    await Promise.all(
      [...nodes, ...nodes].map(async (node) => {
        for (;;) {
          const batch = await node.jobs.leaseMany(60_000, 7);
          if (batch.length === 0) return;
          leasedIds.push(...batch.map((leased) => leased.job.id));
        }
      }),
    );
    assert.equal(leasedIds.length, 120);
    assert.equal(new Set(leasedIds).size, 120);
  });

  test('jobs.completeMany stores each result with its callback; a stale token refuses only its own job', async () => {
    const store = context.store();
    for (let index = 0; index < 3; index++) await store.jobs.submit(newJob());
    const leased: LeasedJob[] = await store.jobs.leaseMany(60_000, 3);
    assert.equal(leased.length, 3);
    const [withCallback, stale, plain] = leased as [LeasedJob, LeasedJob, LeasedJob];
    const delivery = newDelivery();
    const staleDelivery = newDelivery();
    const stored = await store.jobs.completeMany([
      { jobId: withCallback.job.id, leaseToken: withCallback.leaseToken, result: INFECTED, delivery },
      { jobId: stale.job.id, leaseToken: 'not-the-token', result: CLEAN, delivery: staleDelivery },
      { jobId: plain.job.id, leaseToken: plain.leaseToken, result: CLEAN },
    ]);
    assert.deepEqual(stored, [true, false, true]);

    const infected = await store.jobs.get('tenant-a', withCallback.job.id);
    assert.equal(infected?.state, 'done');
    assert.equal(infected?.result?.status, 'infected');
    assert.deepEqual(
      (await store.outbox.listForJob('tenant-a', withCallback.job.id)).map((one) => one.id),
      [delivery.id],
    );
    assert.equal((await store.jobs.get('tenant-a', plain.job.id))?.result?.status, 'clean');
    assert.equal(
      (await store.jobs.get('tenant-a', stale.job.id))?.state,
      'running',
      'the stale one is untouched',
    );
    assert.deepEqual(await store.outbox.listForJob('tenant-a', stale.job.id), [], 'and got no callback');
    assert.deepEqual(
      await store.jobs.completeMany([
        { jobId: stale.job.id, leaseToken: stale.leaseToken, result: CLEAN },
        { jobId: plain.job.id, leaseToken: plain.leaseToken, result: INFECTED },
      ]),
      [true, false],
      'its owner still completes it; a finished job is not completed twice',
    );
    assert.equal((await store.jobs.get('tenant-a', plain.job.id))?.result?.status, 'clean');
    assert.deepEqual(await store.jobs.completeMany([]), []);
  });

  test('jobs.completeAndLease stores the verdicts, then leases the next jobs fairly with the freed slots', async () => {
    const store = context.store();
    for (let index = 0; index < 2; index++) await store.jobs.submit(newJob({ tenantId: 'busy' }));
    const [running] = await store.jobs.leaseMany(60_000, 1);
    for (let index = 0; index < 2; index++) await store.jobs.submit(newJob({ tenantId: 'other' }));
    const delivery = newDelivery();
    const { stored, leased } = await store.jobs.completeAndLease(
      [
        { jobId: running!.job.id, leaseToken: running!.leaseToken, result: INFECTED, delivery },
        { jobId: running!.job.id, leaseToken: 'not-the-token', result: CLEAN },
      ],
      { leaseMs: 60_000, max: 2 },
    );
    assert.deepEqual(stored, [true, false], 'a stale token refuses only its own completion');
    const finished = await store.jobs.get('busy', running!.job.id);
    assert.equal(finished?.result?.status, 'infected');
    assert.deepEqual(
      (await store.outbox.listForJob('busy', running!.job.id)).map((one) => one.id),
      [delivery.id],
    );
    // The finished job no longer counts as running: the tenants take turns from an even start.
    assert.deepEqual(
      leased.map((one) => [one.job.tenantId, one.job.state, one.job.attempts]),
      [
        ['busy', 'running', 1],
        ['other', 'running', 1],
      ],
    );
    const nothingMore = await store.jobs.completeAndLease(
      [{ jobId: leased[0]!.job.id, leaseToken: leased[0]!.leaseToken, result: CLEAN }],
      { leaseMs: 60_000, max: 0 },
    );
    assert.deepEqual(nothingMore, { stored: [true], leased: [] }, 'max 0 leases nothing');
    const last = await store.jobs.completeAndLease([], { leaseMs: 60_000, max: 5 });
    assert.deepEqual(
      last.leased.map((one) => one.job.tenantId),
      ['other'],
      'fewer than asked: nothing else is due',
    );
    assert.deepEqual(await store.jobs.leaseMany(60_000, 5), [], 'each job leased once');
  });

  test('jobs.submitMany stores a batch in order; a duplicate trace id or a NUL refuses only its own job', async () => {
    const store = context.store();
    const pending = await store.jobs.submit(newJob({ traceId: 'taken' }));
    const batch = [
      newJob({ traceId: 'first' }),
      newJob({ traceId: 'taken' }),
      newJob({ customData: 'a\u0000b' }),
      newJob({ traceId: 'twice' }),
      newJob({ traceId: 'twice' }),
      newJob({ tenantId: 'tenant-b', traceId: 'taken' }),
    ];
    const outcomes = await store.jobs.submitMany(batch);
    assert.equal(outcomes.length, batch.length);
    assert.deepEqual(
      outcomes.map((outcome) => outcome.job?.id ?? codeOf(outcome.error)),
      [
        batch[0]!.id,
        'duplicate_trace_id',
        'invalid_request',
        batch[3]!.id,
        'duplicate_trace_id',
        batch[5]!.id,
      ],
    );
    for (const outcome of outcomes) {
      if (!outcome.job) continue;
      assert.equal(outcome.job.state, 'queued');
      assert.deepEqual(await store.jobs.get(outcome.job.tenantId, outcome.job.id), outcome.job);
    }
    assert.equal((await store.jobs.getByTraceId('tenant-a', 'taken'))?.id, pending.id);
    assert.equal(await store.jobs.countUnfinished(), 4);
    assert.deepEqual(await store.jobs.submitMany([]), []);
  });

  test('an inline upload is stored with its job and read back by the lease only, after a release too', async () => {
    const store = context.store();
    const uploadBytes = Buffer.from([0, 1, 2, 250, 251, 255]);
    const source = { kind: 'upload' as const, blobKey: 'k', size: uploadBytes.length, inline: true };
    const [submitted] = await store.jobs.submitMany([newJob({ source, uploadBytes })]);
    assert.ok(submitted?.job);
    assert.equal(submitted.job.uploadBytes, undefined, 'reads other than the lease do not carry the bytes');
    assert.equal((await store.jobs.get('tenant-a', submitted.job.id))?.uploadBytes, undefined);
    const [leased] = await store.jobs.leaseMany(60_000, 2);
    assert.ok(leased);
    assert.deepEqual(leased.job.source, source);
    assert.deepEqual(Buffer.from(leased.job.uploadBytes!), uploadBytes);
    assert.ok(await store.jobs.release(leased.job.id, leased.leaseToken));
    const again = await store.jobs.lease(60_000);
    assert.deepEqual(Buffer.from(again!.job.uploadBytes!), uploadBytes, 'a released job keeps its bytes');
    assert.ok(await store.jobs.complete(again!.job.id, again!.leaseToken, CLEAN));
  });

  test('completeMany remembers verdicts in the cache; a lease brings the cached verdict of an upload', async () => {
    const store = context.store();
    const sha256 = 'd'.repeat(64);
    const upload = { kind: 'upload' as const, blobKey: 'k', size: 3, sha256 };
    const first = await store.jobs.submit(newJob({ source: upload }));
    const leased = await store.jobs.lease(60_000, { verdictCacheKey: 'sigs-1' });
    assert.equal(leased?.job.id, first.id);
    assert.equal(leased.cachedResult, undefined, 'nothing cached yet');
    const judged = { ...INFECTED, sha256 };
    assert.deepEqual(
      await store.jobs.completeMany([
        {
          jobId: first.id,
          leaseToken: leased.leaseToken,
          result: judged,
          verdictCacheEntry: { sha256, cacheKey: 'sigs-1', result: judged },
        },
      ]),
      [true],
    );
    assert.deepEqual(await store.verdicts.get(sha256, 'sigs-1'), judged, 'stored with the job');

    const same = await store.jobs.submit(newJob({ source: upload }));
    const other = await store.jobs.submit(newJob({ source: { ...upload, sha256: 'e'.repeat(64) } }));
    const again = await store.jobs.lease(60_000, { verdictCacheKey: 'sigs-1' });
    assert.equal(again?.job.id, same.id);
    assert.deepEqual(again.cachedResult, judged, 'the same bytes under the same signatures');
    const unrelated = await store.jobs.lease(60_000, { verdictCacheKey: 'sigs-1' });
    assert.equal(unrelated?.job.id, other.id);
    assert.equal(unrelated.cachedResult, undefined, 'other bytes');
    assert.ok(await store.jobs.release(again.job.id, again.leaseToken));
    const newSignatures = await store.jobs.lease(60_000, { verdictCacheKey: 'sigs-2' });
    assert.equal(newSignatures?.job.id, same.id);
    assert.equal(newSignatures.cachedResult, undefined, 'new signatures judge afresh');
    assert.ok(await store.jobs.release(newSignatures.job.id, newSignatures.leaseToken));
    const withoutKey = await store.jobs.lease(60_000);
    assert.equal(withoutKey?.cachedResult, undefined, 'no key, no lookup');

    // With a callback, in a batch: each entry is written with its own job.
    const otherResult = { ...CLEAN, sha256: 'e'.repeat(64) };
    assert.deepEqual(
      await store.jobs.completeMany([
        {
          jobId: withoutKey!.job.id,
          leaseToken: withoutKey!.leaseToken,
          result: judged,
          delivery: newDelivery(),
          verdictCacheEntry: { sha256, cacheKey: 'sigs-2', result: judged },
        },
        {
          jobId: unrelated.job.id,
          leaseToken: unrelated.leaseToken,
          result: otherResult,
          delivery: newDelivery(),
          verdictCacheEntry: { sha256: 'e'.repeat(64), cacheKey: 'sigs-1', result: otherResult },
        },
      ]),
      [true, true],
    );
    assert.deepEqual(await store.verdicts.get(sha256, 'sigs-2'), judged);
    assert.deepEqual(await store.verdicts.get('e'.repeat(64), 'sigs-1'), otherResult);
    assert.equal((await store.outbox.lease(60_000)) !== undefined, true, 'the callbacks are stored');
  });
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelayMs } from '../../../src/jobs/backoff.ts';
import type { Store } from '../../../src/store/contracts.ts';
import { assertNear, CLEAN, type ContractContext, HOUR_MS, INFECTED, newJob } from './fixtures.ts';

export function leasingContract(context: ContractContext): void {
  test('jobs.lease hands out the oldest eligible job, running, with a counted attempt', async () => {
    const store = context.store();
    assert.equal(await store.jobs.lease(60_000), undefined, 'nothing to lease in an empty store');
    const submitted = [];
    for (let index = 0; index < 3; index++) submitted.push(await store.jobs.submit(newJob()));
    const leaseTokens = new Set<string>();
    for (const expected of submitted) {
      const before = Date.now();
      const leased = await store.jobs.lease(30_000);
      assert.equal(leased?.job.id, expected.id);
      assert.equal(leased.job.state, 'running');
      assert.equal(leased.job.attempts, 1);
      assertNear(leased.job.startedAt, before, 'startedAt');
      assertNear(leased.leaseExpiresAt, before + 30_000, 'leaseExpiresAt');
      leaseTokens.add(leased.leaseToken);
      assert.equal((await store.jobs.get('tenant-a', expected.id))?.state, 'running');
    }
    assert.equal(leaseTokens.size, 3, 'every lease has its own token');
    assert.equal(await store.jobs.lease(60_000), undefined, 'running jobs with live leases are not leased');
  });

  test("a tenant's backlog does not hold back another tenant's job: fewest running goes first", async () => {
    const store = context.store();
    const backlog = [];
    for (let index = 0; index < 5; index++)
      backlog.push(await store.jobs.submit(newJob({ tenantId: 'big' })));
    const small = await store.jobs.submit(newJob({ tenantId: 'small' }));
    // Both have nothing running: the oldest due job goes first.
    assert.equal((await store.jobs.lease(60_000))?.job.id, backlog[0]!.id);
    // 'big' now has one running, 'small' none: small's job jumps the rest of the backlog.
    assert.equal((await store.jobs.lease(60_000))?.job.id, small.id);
    for (const expected of backlog.slice(1)) {
      assert.equal((await store.jobs.lease(60_000))?.job.id, expected.id);
    }
    assert.equal(await store.jobs.lease(60_000), undefined);
  });

  test('tenants take turns by how many jobs each has running', async () => {
    const store = context.store();
    for (let index = 0; index < 3; index++) {
      await store.jobs.submit(newJob({ tenantId: 'tenant-x' }));
      await store.jobs.submit(newJob({ tenantId: 'tenant-y' }));
    }
    const order: string[] = [];
    for (;;) {
      const leased = await store.jobs.lease(60_000);
      if (!leased) break;
      order.push(leased.job.tenantId);
    }
    assert.deepEqual(order, ['tenant-x', 'tenant-y', 'tenant-x', 'tenant-y', 'tenant-x', 'tenant-y']);
  });

  test('maxRunningPerTenant caps one tenant; expired leases do not count as running', async () => {
    const store = context.store();
    const first = await store.jobs.submit(newJob({ tenantId: 'capped' }));
    const second = await store.jobs.submit(newJob({ tenantId: 'capped' }));
    const limit = { maxRunningPerTenant: 1 };
    const running = await store.jobs.lease(60_000, limit);
    assert.equal(running?.job.id, first.id);
    assert.equal(await store.jobs.lease(60_000, limit), undefined, 'capped tenant waits');
    const other = await store.jobs.submit(newJob({ tenantId: 'other' }));
    assert.equal((await store.jobs.lease(60_000, limit))?.job.id, other.id, 'others still get workers');
    assert.ok(await store.jobs.complete(first.id, running!.leaseToken, CLEAN));
    assert.equal((await store.jobs.lease(60_000, limit))?.job.id, second.id, 'a finished job frees the slot');

    const third = await store.jobs.submit(newJob({ tenantId: 'expired' }));
    const fourth = await store.jobs.submit(newJob({ tenantId: 'expired' }));
    assert.equal((await store.jobs.lease(0, limit))?.job.id, third.id); // lease expires at once
    const next = await store.jobs.lease(60_000, limit);
    assert.ok(next && [third.id, fourth.id].includes(next.job.id), 'an expired lease frees its slot');
  });

  test('an expired lease is taken back first, even for a tenant at its cap, and keeps the cap held', async () => {
    const store = context.store();
    const limit = { maxRunningPerTenant: 1 };
    const stuck = await store.jobs.submit(newJob({ tenantId: 'capped' }));
    const waiting = await store.jobs.submit(newJob({ tenantId: 'capped' }));
    const dead = await store.jobs.lease(0, limit); // its worker died: the lease expires at once
    assert.equal(dead?.job.id, stuck.id);
    const other = await store.jobs.submit(newJob({ tenantId: 'other' }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const reclaimed = await store.jobs.lease(60_000, limit);
    assert.equal(reclaimed?.job.id, stuck.id, 'the expired lease goes before any queued job');
    assert.equal(reclaimed.job.attempts, 2);
    assert.equal((await store.jobs.lease(60_000, limit))?.job.id, other.id);
    assert.equal(await store.jobs.lease(60_000, limit), undefined, 'capped again: one live lease');
    assert.ok(await store.jobs.complete(stuck.id, reclaimed.leaseToken, CLEAN));
    assert.equal((await store.jobs.lease(60_000, limit))?.job.id, waiting.id);
  });

  test('8 concurrent leasers over 200 jobs lease each job exactly once', async () => {
    const stores = [context.store(), ...(await Promise.all([...Array(7)].map(() => context.open())))];
    const jobIds = new Set<string>();
    await Promise.all(
      [...Array(200)].map(async (_, index) => {
        const job = await stores[index % stores.length]!.jobs.submit(
          newJob({ tenantId: `tenant-${index % 3}` }),
        );
        jobIds.add(job.id);
      }),
    );
    const leased: string[] = [];
    const leaseUntilEmpty = async (store: Store) => {
      for (;;) {
        const lease = await store.jobs.lease(60_000);
        if (!lease) return;
        leased.push(lease.job.id);
      }
    };
    await Promise.all(stores.map(leaseUntilEmpty));
    assert.equal(leased.length, 200, 'no job leased twice');
    assert.deepEqual(new Set(leased), jobIds, 'every job leased');
  });

  test('an expired lease is taken over; the stale token can no longer write', async () => {
    const store = context.store();
    const job = await store.jobs.submit(newJob());
    const stale = await store.jobs.lease(0); // expires at once
    assert.ok(stale);
    const otherNode = await context.open();
    const current = await otherNode.jobs.lease(60_000);
    assert.equal(current?.job.id, job.id);
    assert.equal(current.job.attempts, 2, 'the lost attempt stays counted');
    assert.notEqual(current.leaseToken, stale.leaseToken);

    assert.equal(await store.jobs.extendLease(job.id, stale.leaseToken, 60_000), false);
    assert.equal(await store.jobs.complete(job.id, stale.leaseToken, CLEAN), false);
    assert.equal(await store.jobs.retry(job.id, stale.leaseToken, 'late', new Date()), false);
    assert.equal(await store.jobs.release(job.id, stale.leaseToken), false);
    assert.equal(
      (await store.jobs.get('tenant-a', job.id))?.state,
      'running',
      'stale writes changed nothing',
    );

    assert.equal(await otherNode.jobs.complete(job.id, current.leaseToken, INFECTED), true);
    const done = await store.jobs.get('tenant-a', job.id);
    assert.equal(done?.state, 'done');
    assert.deepEqual(done.result, INFECTED);
    assert.ok(done.completedAt);
    assert.equal(await store.jobs.complete(job.id, current.leaseToken, CLEAN), false, 'done is final');
    assert.equal(await store.jobs.lease(60_000), undefined);
  });

  test('jobs.extendLease pushes the expiry out only for the current token', async () => {
    const store = context.store();
    const job = await store.jobs.submit(newJob());
    const leased = (await store.jobs.lease(10_000))!;
    assert.equal(await store.jobs.extendLease(job.id, leased.leaseToken, HOUR_MS), true);
    const extended = (await store.jobs.get('tenant-a', job.id))!;
    assert.ok(extended.nextAttemptAt.getTime() > leased.leaseExpiresAt.getTime() + HOUR_MS / 2);
    assert.equal(await store.jobs.extendLease(job.id, crypto.randomUUID(), HOUR_MS), false);
    assert.equal(await store.jobs.extendLease(crypto.randomUUID(), leased.leaseToken, HOUR_MS), false);
  });

  test('jobs.retry requeues until retryAt with the error; the attempt stays counted', async () => {
    const store = context.store();
    const job = await store.jobs.submit(newJob());
    const leased = (await store.jobs.lease(60_000))!;
    const delay = retryDelayMs(leased.job.attempts, { baseMs: 60_000, maxMs: HOUR_MS }, () => 0.5);
    const retryAt = new Date(Date.now() + delay);
    assert.equal(
      await store.jobs.retry(job.id, leased.leaseToken, 'engine_unavailable: clamd down', retryAt),
      true,
    );
    const queued = (await store.jobs.get('tenant-a', job.id))!;
    assert.equal(queued.state, 'queued');
    assert.equal(queued.attempts, 1);
    assert.equal(queued.lastError, 'engine_unavailable: clamd down');
    assert.equal(queued.nextAttemptAt.getTime(), retryAt.getTime());
    assert.equal(await store.jobs.retry(job.id, leased.leaseToken, 'again', retryAt), false, 'lease gone');

    const later = await store.jobs.submit(newJob());
    assert.equal((await store.jobs.lease(60_000))?.job.id, later.id, 'a job waiting for retryAt is skipped');
    assert.equal(await store.jobs.lease(60_000), undefined);

    const due = await store.jobs.submit(newJob());
    const dueLease = (await store.jobs.lease(60_000))!;
    assert.equal(dueLease.job.id, due.id);
    assert.equal(
      await store.jobs.retry(due.id, dueLease.leaseToken, 'timeout', new Date(Date.now() - 1000)),
      true,
    );
    const again = await store.jobs.lease(60_000);
    assert.equal(again?.job.id, due.id);
    assert.equal(again.job.attempts, 2);
    assert.equal(again.job.lastError, 'timeout');
  });

  test('jobs.release requeues at once without counting the attempt', async () => {
    const store = context.store();
    const job = await store.jobs.submit(newJob());
    const leased = (await store.jobs.lease(60_000))!;
    assert.equal(await store.jobs.release(job.id, leased.leaseToken), true);
    const released = (await store.jobs.get('tenant-a', job.id))!;
    assert.equal(released.state, 'queued');
    assert.equal(released.attempts, 0);
    assert.equal(await store.jobs.release(job.id, leased.leaseToken), false, 'the token died with the lease');
    const again = await store.jobs.lease(60_000);
    assert.equal(again?.job.id, job.id);
    assert.equal(again.job.attempts, 1);
  });
}

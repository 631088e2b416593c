import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LeasedDelivery, Store } from '../../../src/store/contracts.ts';
import {
  assertNear,
  CLEAN,
  type ContractContext,
  finishedJob,
  HOUR_MS,
  INFECTED,
  newDelivery,
  newJob,
  rejectsWithCode,
} from './fixtures.ts';

async function pendingDelivery(store: Store, tenantId = 'tenant-a'): Promise<string> {
  const delivery = newDelivery();
  await finishedJob(store, CLEAN, { tenantId }, delivery);
  return delivery.id;
}

async function pendingDeliveryTo(store: Store, url: string, tenantId = 'tenant-a'): Promise<string> {
  const delivery = newDelivery({ url });
  await finishedJob(store, CLEAN, { tenantId }, delivery);
  return delivery.id;
}

async function leaseDelivery(store: Store, id: string, leaseMs = 60_000): Promise<LeasedDelivery> {
  const leased = await store.outbox.lease(leaseMs);
  assert.equal(leased?.delivery.id, id);
  return leased;
}

export function outboxContract(context: ContractContext): void {
  test('jobs.complete stores the result and its callback delivery together', async () => {
    const store = context.store();
    const job = await store.jobs.submit(newJob({ callback: { url: 'https://r.example.com/', headers: {} } }));
    const leased = (await store.jobs.lease(60_000))!;
    const delivery = newDelivery({ body: '{"status":"infected","finding":"Eicar"}' });
    const before = Date.now();
    assert.equal(await store.jobs.complete(job.id, leased.leaseToken, INFECTED, delivery), true);

    const done = (await store.jobs.get('tenant-a', job.id))!;
    assert.equal(done.state, 'done');
    assert.deepEqual(done.result, INFECTED);
    assertNear(done.completedAt, before, 'completedAt');
    const deliveries = await store.outbox.listForJob('tenant-a', job.id);
    assert.equal(deliveries.length, 1);
    const [stored] = deliveries;
    assert.deepEqual(
      { ...stored, createdAt: undefined, nextAttemptAt: undefined },
      {
        ...delivery,
        jobId: job.id,
        tenantId: 'tenant-a',
        state: 'pending',
        attempts: 0,
        createdAt: undefined,
        nextAttemptAt: undefined,
      },
    );
    assertNear(stored?.nextAttemptAt, before, 'delivery due at once');
    assert.deepEqual(await store.outbox.listForJob('tenant-b', job.id), [], 'tenant isolation');

    assert.equal(await store.jobs.complete(job.id, leased.leaseToken, CLEAN, newDelivery()), false);
    assert.equal((await store.outbox.listForJob('tenant-a', job.id)).length, 1, 'no second delivery');
  });

  test('a delivery that cannot be stored leaves the job unfinished (same transaction)', async () => {
    const store = context.store();
    const takenId = await pendingDelivery(store);
    const job = await store.jobs.submit(newJob());
    const leased = (await store.jobs.lease(60_000))!;
    await assert.rejects(store.jobs.complete(job.id, leased.leaseToken, CLEAN, newDelivery({ id: takenId })));
    const unchanged = (await store.jobs.get('tenant-a', job.id))!;
    assert.equal(unchanged.state, 'running');
    assert.equal(unchanged.result, undefined);
    assert.deepEqual(await store.outbox.listForJob('tenant-a', job.id), []);
    assert.equal(await store.jobs.complete(job.id, leased.leaseToken, CLEAN, newDelivery()), true);
  });

  test('jobs.complete without a delivery creates none', async () => {
    const store = context.store();
    const job = await finishedJob(store, CLEAN);
    assert.deepEqual(await store.outbox.listForJob('tenant-a', job.id), []);
    assert.equal(await store.outbox.lease(60_000), undefined);
  });

  test('delivery: lease counts the attempt, retry records the failure, delivered is final', async () => {
    const store = context.store();
    const id = await pendingDelivery(store);
    const first = await leaseDelivery(store, id);
    assert.equal(first.delivery.attempts, 1);
    assert.equal(first.delivery.state, 'pending');
    assert.equal(await store.outbox.lease(60_000), undefined, 'a leased delivery is not handed out twice');

    const past = new Date(Date.now() - 1000);
    assert.equal(await store.outbox.retry(id, first.leaseToken, 'HTTP 500', 500, past), true);
    assert.equal(await store.outbox.markDelivered(id, first.leaseToken, 200), false, 'token spent');
    const second = await leaseDelivery(store, id);
    assert.equal(second.delivery.attempts, 2);
    assert.equal(second.delivery.lastError, 'HTTP 500');
    assert.equal(second.delivery.lastStatusCode, 500);

    const before = Date.now();
    assert.equal(await store.outbox.markDelivered(id, second.leaseToken, 204), true);
    const [delivered] = await store.outbox.listForJob('tenant-a', second.delivery.jobId);
    assert.equal(delivered?.state, 'delivered');
    assert.equal(delivered.attempts, 2);
    assert.equal(delivered.lastStatusCode, 204);
    assertNear(delivered.deliveredAt, before, 'deliveredAt');
    assert.equal(await store.outbox.markDelivered(id, second.leaseToken, 200), false);
    assert.equal(await store.outbox.fail(id, second.leaseToken, 'late', undefined), false);
    assert.equal(await store.outbox.lease(60_000), undefined);
  });

  test('delivery: a retry waits until its time; outbox.fail is final; release does not count', async () => {
    const store = context.store();
    const waiting = await pendingDelivery(store);
    const lease = await leaseDelivery(store, waiting);
    const retryAt = new Date(Date.now() + HOUR_MS);
    assert.equal(
      await store.outbox.retry(waiting, lease.leaseToken, 'connect timeout', undefined, retryAt),
      true,
    );
    const [stored] = await store.outbox.listForJob('tenant-a', lease.delivery.jobId);
    assert.equal(stored?.nextAttemptAt.getTime(), retryAt.getTime());
    assert.equal(stored.lastError, 'connect timeout');
    assert.equal('lastStatusCode' in stored, false);
    assert.equal(await store.outbox.lease(60_000), undefined, 'not due yet');

    const released = await pendingDelivery(store);
    const firstLease = await leaseDelivery(store, released);
    assert.equal(await store.outbox.release(released, firstLease.leaseToken), true);
    assert.equal(await store.outbox.release(released, firstLease.leaseToken), false);
    const afterRelease = await leaseDelivery(store, released);
    assert.equal(afterRelease.delivery.attempts, 1, 'the released attempt is not counted');

    assert.equal(await store.outbox.fail(released, afterRelease.leaseToken, 'HTTP 410 Gone', 410), true);
    const [failed] = await store.outbox.listForJob('tenant-a', afterRelease.delivery.jobId);
    assert.equal(failed?.state, 'failed');
    assert.equal(failed.lastStatusCode, 410);
    assert.equal(failed.lastError, 'HTTP 410 Gone');
    assert.equal(await store.outbox.lease(60_000), undefined, 'failed is final');
  });

  test('delivery: an expired lease is taken over and the stale token is refused', async () => {
    const store = context.store();
    const id = await pendingDelivery(store);
    const stale = await leaseDelivery(store, id, 0);
    const otherNode = await context.open();
    const current = await leaseDelivery(otherNode, id);
    assert.equal(current.delivery.attempts, 2);
    assert.equal(await store.outbox.markDelivered(id, stale.leaseToken, 200), false);
    assert.equal(await store.outbox.retry(id, stale.leaseToken, 'x', 500, new Date()), false);
    assert.equal(await store.outbox.release(id, stale.leaseToken), false);
    assert.equal(await otherNode.outbox.markDelivered(id, current.leaseToken, 200), true);
  });

  test('jobs.sweepExpired deletes finished jobs past retention unless a callback is still pending', async () => {
    const store = context.store();
    const noCallback = await finishedJob(store, CLEAN);
    const deliveredJob = await finishedJob(store, CLEAN, {}, newDelivery());
    const delivered = await leaseDelivery(
      store,
      (await store.outbox.listForJob('tenant-a', deliveredJob.id))[0]!.id,
    );
    assert.equal(await store.outbox.markDelivered(delivered.delivery.id, delivered.leaseToken, 200), true);
    const failedJob = await finishedJob(store, INFECTED, { tenantId: 'tenant-b' }, newDelivery());
    const failed = await leaseDelivery(
      store,
      (await store.outbox.listForJob('tenant-b', failedJob.id))[0]!.id,
    );
    assert.equal(await store.outbox.fail(failed.delivery.id, failed.leaseToken, 'gone', 410), true);
    const pendingJob = await finishedJob(store, CLEAN, {}, newDelivery());
    const queued = await store.jobs.submit(newJob());
    await store.verdicts.put({ sha256: 'c'.repeat(64), cacheKey: '1', result: CLEAN });

    assert.deepEqual(await store.jobs.sweepExpired(new Date(Date.now() - HOUR_MS)), {
      jobs: 0,
      deliveries: 0,
    });
    assert.ok(await store.verdicts.get('c'.repeat(64), '1'), 'young cache entries stay');

    assert.deepEqual(await store.jobs.sweepExpired(new Date(Date.now() + 60_000)), {
      jobs: 3,
      deliveries: 2,
    });
    assert.equal(await store.jobs.get('tenant-a', noCallback.id), undefined);
    assert.equal(await store.jobs.get('tenant-a', deliveredJob.id), undefined);
    assert.deepEqual(await store.outbox.listForJob('tenant-a', deliveredJob.id), []);
    assert.equal(await store.jobs.get('tenant-b', failedJob.id), undefined);
    assert.equal((await store.jobs.get('tenant-a', pendingJob.id))?.state, 'done', 'its callback is pending');
    assert.equal((await store.outbox.listForJob('tenant-a', pendingJob.id)).length, 1);
    assert.equal((await store.jobs.get('tenant-a', queued.id))?.state, 'queued');
    assert.equal(await store.verdicts.get('c'.repeat(64), '1'), undefined, 'old cache entries go');
  });

  test('outbox.listFailed: failed for good only, per tenant and callback URL, newest first, paged', async () => {
    const store = context.store();
    const url = 'https://receiver.example.com/failing';
    const failed: string[] = [];
    for (let index = 0; index < 3; index++) {
      const id = await pendingDeliveryTo(store, url);
      const leased = await leaseDelivery(store, id);
      const before = Date.now();
      assert.equal(await store.outbox.fail(id, leased.leaseToken, `HTTP 410 #${index}`, 410), true);
      failed.push(id);
      const [listed] = (await store.outbox.listFailed('tenant-a', url, 1)).deliveries;
      assertNear(listed?.failedAt, before, 'failedAt is when it failed');
    }
    const retrying = await pendingDeliveryTo(store, url);
    const leased = await leaseDelivery(store, retrying);
    await store.outbox.retry(retrying, leased.leaseToken, 'HTTP 500', 500, new Date(Date.now() + HOUR_MS));
    await pendingDeliveryTo(store, url, 'tenant-b');

    const first = await store.outbox.listFailed('tenant-a', url, 2);
    assert.deepEqual(
      first.deliveries.map((delivery) => delivery.id),
      [failed[2], failed[1]],
    );
    assert.equal(first.deliveries[0]?.lastError, 'HTTP 410 #2');
    assert.equal(first.deliveries[0]?.source.kind, 'url');
    assert.ok(first.nextCursor);
    const second = await store.outbox.listFailed('tenant-a', url, 2, first.nextCursor);
    assert.deepEqual(
      second.deliveries.map((delivery) => delivery.id),
      [failed[0]],
    );
    assert.equal(second.nextCursor, undefined);
    assert.deepEqual((await store.outbox.listFailed('tenant-b', url, 10)).deliveries, []);
    assert.deepEqual((await store.outbox.listFailed('tenant-a', `${url}/other`, 10)).deliveries, []);
    await rejectsWithCode(store.outbox.listFailed('tenant-a', url, 10, 'DROP TABLE'), 'invalid_request');
  });
}

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, test } from 'node:test';
import type { NewBucketScan, SightedObject } from '../../../src/bucket-scan.ts';
import type { BucketScanStore, Store } from '../../../src/store/contracts.ts';
import { CLEAN, INFECTED } from './fixtures.ts';

/** One database: a job store and a bucket-scan store on it (the walker needs both). */
export interface BucketStoreFixture {
  store: Store;
  buckets: BucketScanStore;
  /** Another bucket-scan store on the same database (another node). */
  openBuckets(): Promise<BucketScanStore>;
  destroy(): Promise<void>;
}

function newScan(overrides: Partial<NewBucketScan> = {}): NewBucketScan {
  return {
    id: randomUUID(),
    tenantId: 'tenant-a',
    origin: 'scan',
    bucket: 'photos',
    prefix: 'in/',
    actions: { tag: 'scangate', infected: 'quarantine', quarantine: { bucket: 'q', prefix: 'infected/' } },
    ...overrides,
  };
}

function sighting(key: string, size = 10, etag = `etag-${key}`): SightedObject {
  return { key, size, etag, dedupeKey: key, jobId: randomUUID() };
}

/** The contract both bucket-scan stores pass (SQLite and PostgreSQL). */
export function bucketStoreContract(createFixture: () => Promise<BucketStoreFixture>): void {
  let fixture: BucketStoreFixture;
  beforeEach(async () => {
    fixture = await createFixture();
  });
  afterEach(() => fixture.destroy());

  /** Records objects through a lease, submits their jobs and returns the lease token. */
  async function listedAndSubmitted(scanId: string, keys: string[]): Promise<string> {
    const leased = await fixture.buckets.leaseScan(60_000);
    assert.equal(leased?.scan.id, scanId);
    assert.ok(
      await fixture.buckets.recordPage(
        scanId,
        leased.leaseToken,
        keys.map((key) => sighting(key)),
        {
          listingDone: true,
        },
      ),
    );
    const recorded = await fixture.buckets.objectsToSubmit(scanId, 100);
    for (const object of recorded) {
      await fixture.store.jobs.submit({
        id: object.jobId,
        tenantId: 'tenant-a',
        dialect: 'native',
        source: { kind: 's3', bucket: 'photos', key: object.key },
      });
    }
    await fixture.buckets.markSubmitted(
      scanId,
      recorded.map((object) => object.seq),
    );
    return leased.leaseToken;
  }

  async function completeAll(result = CLEAN): Promise<void> {
    for (
      let leased = await fixture.store.jobs.lease(60_000);
      leased;
      leased = await fixture.store.jobs.lease(60_000)
    ) {
      assert.ok(await fixture.store.jobs.complete(leased.job.id, leased.leaseToken, result));
    }
  }

  test('a scan is created running, read back by its tenant only, and listed newest first', async () => {
    const first = await fixture.buckets.createScan(newScan({ since: new Date('2026-01-02T03:04:05Z') }));
    const second = await fixture.buckets.createScan(newScan());
    assert.equal(first.state, 'running');
    assert.equal(first.listingDone, false);
    assert.equal(first.since?.toISOString(), '2026-01-02T03:04:05.000Z');
    assert.deepEqual(first.actions.quarantine, { bucket: 'q', prefix: 'infected/' });
    assert.equal(await fixture.buckets.getScan('tenant-b', first.id), undefined);
    const listed = await fixture.buckets.listScans('tenant-a', 10);
    assert.deepEqual(new Set(listed.map((scan) => scan.id)), new Set([first.id, second.id]));
    assert.deepEqual(await fixture.buckets.listScans('tenant-b', 10), []);
  });

  test('one lease at a time; a released scan can be leased again; a lost lease records nothing', async () => {
    const scan = await fixture.buckets.createScan(newScan());
    const other = await fixture.openBuckets();
    const leased = await fixture.buckets.leaseScan(60_000);
    assert.equal(leased?.scan.id, scan.id);
    assert.equal(await other.leaseScan(60_000), undefined);
    assert.equal(
      await other.recordPage(scan.id, 'not-the-token', [sighting('a')], { listingDone: false }),
      false,
    );
    await fixture.buckets.releaseScan(scan.id, leased.leaseToken);
    const again = await other.leaseScan(60_000);
    assert.equal(again?.scan.id, scan.id);
    assert.equal(
      await fixture.buckets.recordPage(scan.id, leased.leaseToken, [sighting('a')], { listingDone: false }),
      false,
      'the old token is fenced off',
    );
    assert.equal((await fixture.buckets.getScan('tenant-a', scan.id))?.counts.listed, 0);
  });

  test('nextScanDueAt: none without a running scan, then when the lease or the release delay ends', async () => {
    assert.equal(await fixture.buckets.nextScanDueAt(), undefined);
    const scan = await fixture.buckets.createScan(newScan());
    const created = await fixture.buckets.nextScanDueAt();
    assert.ok(created && created.getTime() <= Date.now(), 'a new scan is due at once');
    const leased = (await fixture.buckets.leaseScan(60_000))!;
    const whileLeased = (await fixture.buckets.nextScanDueAt())!.getTime() - Date.now();
    assert.ok(whileLeased > 55_000 && whileLeased <= 60_000, `due when its lease ends (${whileLeased} ms)`);
    await fixture.buckets.releaseScan(scan.id, leased.leaseToken, 5_000);
    const released = (await fixture.buckets.nextScanDueAt())!.getTime() - Date.now();
    assert.ok(released > 0 && released <= 5_000, `due when its release delay ends (${released} ms)`);
    await fixture.buckets.cancelScan('tenant-a', scan.id);
    assert.equal(await fixture.buckets.nextScanDueAt(), undefined, 'an ended scan is never due');
  });

  test('a page is recorded with its cursor; a page recorded twice counts its objects once', async () => {
    const scan = await fixture.buckets.createScan(newScan());
    const leased = (await fixture.buckets.leaseScan(60_000))!;
    const page = [sighting('in/a', 5), sighting('in/b', 7)];
    assert.ok(
      await fixture.buckets.recordPage(scan.id, leased.leaseToken, page, {
        cursor: 'token-2',
        listingDone: false,
      }),
    );
    // The same page again (a crash after the commit, before the walker moved on), new job ids.
    const replay = page.map((object) => ({ ...object, jobId: randomUUID() }));
    assert.ok(
      await fixture.buckets.recordPage(scan.id, leased.leaseToken, replay, {
        cursor: 'token-2',
        listingDone: false,
      }),
    );
    let stored = (await fixture.buckets.getScan('tenant-a', scan.id))!;
    assert.equal(stored.cursor, 'token-2');
    assert.equal(stored.counts.listed, 2);
    assert.equal(stored.counts.bytesListed, 12);
    const toSubmit = await fixture.buckets.objectsToSubmit(scan.id, 10);
    assert.deepEqual(
      toSubmit.map((object) => [object.key, object.jobId]),
      page.map((object) => [object.key, object.jobId]),
      'the first sighting and its job id are kept',
    );
    assert.ok(await fixture.buckets.recordPage(scan.id, leased.leaseToken, [], { listingDone: true }));
    stored = (await fixture.buckets.getScan('tenant-a', scan.id))!;
    assert.equal(stored.cursor, undefined);
    assert.equal(stored.listingDone, true);
    assert.equal(await fixture.buckets.countOutstanding(scan.id), 2);
  });

  test('objects are ready to settle when their job is done, are settled and counted once', async () => {
    const scan = await fixture.buckets.createScan(newScan());
    const token = await listedAndSubmitted(scan.id, ['in/a', 'in/b']);
    assert.deepEqual(await fixture.buckets.objectsToSubmit(scan.id, 10), []);
    assert.deepEqual(await fixture.buckets.objectsToSettle(scan.id, 10), [], 'jobs still queued');
    await completeAll(INFECTED);
    const ready = await fixture.buckets.objectsToSettle(scan.id, 10);
    assert.equal(ready.length, 2);
    assert.equal(ready[0]!.result?.status, 'infected');
    assert.equal(ready[0]!.result?.finding, INFECTED.finding);
    const action = {
      action: 'tag' as const,
      ok: true,
      at: new Date().toISOString(),
      detail: 'scangate-status=infected',
    };
    const settlement = { outcome: 'infected', finding: INFECTED.finding!, actions: [action], size: 10 };
    assert.ok(await fixture.buckets.settleObject(scan.id, token, ready[0]!.object.seq, settlement));
    assert.equal(await fixture.buckets.settleObject(scan.id, token, ready[0]!.object.seq, settlement), false);
    assert.equal(
      await fixture.buckets.settleObject(scan.id, 'stale', ready[1]!.object.seq, settlement),
      false,
    );
    const stored = (await fixture.buckets.getScan('tenant-a', scan.id))!;
    assert.equal(stored.counts.infected, 1);
    assert.equal(stored.counts.bytesSettled, 10);
    assert.equal(await fixture.buckets.countOutstanding(scan.id), 1);
    const [object] = await fixture.buckets.listObjects('tenant-a', scan.id, {
      limit: 10,
      outcome: 'infected',
    });
    assert.equal(object?.key, 'in/a');
    assert.equal(object?.state, 'settled');
    assert.deepEqual(object?.actions, [action]);
    assert.equal((await fixture.buckets.objectForJob('tenant-a', object!.jobId))?.key, 'in/a');
    assert.equal(await fixture.buckets.objectForJob('tenant-b', object!.jobId), undefined);
  });

  test('a changed object is requeued with a new job id and ETag; finishing needs nothing outstanding', async () => {
    const scan = await fixture.buckets.createScan(newScan());
    const token = await listedAndSubmitted(scan.id, ['in/a']);
    await completeAll();
    const [ready] = await fixture.buckets.objectsToSettle(scan.id, 10);
    const jobId = randomUUID();
    const rescan = { action: 'rescan' as const, ok: true, at: new Date().toISOString(), detail: 'changed' };
    assert.ok(
      await fixture.buckets.requeueObject(scan.id, token, ready!.object.seq, {
        jobId,
        etag: 'new',
        action: rescan,
      }),
    );
    const [again] = await fixture.buckets.objectsToSubmit(scan.id, 10);
    assert.equal(again?.jobId, jobId);
    assert.equal(again?.etag, 'new');
    assert.equal(again?.scanAttempts, 2);
    assert.deepEqual(again?.actions, [rescan]);
    assert.equal((await fixture.buckets.getScan('tenant-a', scan.id))?.counts.rescans, 1);
    await fixture.buckets.markSubmitted(scan.id, [again!.seq]);
    const [missing] = await fixture.buckets.objectsToSettle(scan.id, 10);
    assert.equal(missing?.result, undefined, 'a job that does not exist is reported as gone');
    assert.ok(
      await fixture.buckets.settleObject(scan.id, token, again!.seq, {
        outcome: 'failed',
        actions: [],
        size: 10,
      }),
    );
    assert.ok(await fixture.buckets.finishScan(scan.id, token, 'done'));
    const done = (await fixture.buckets.getScan('tenant-a', scan.id))!;
    assert.equal(done.state, 'done');
    assert.equal(done.counts.failed, 1);
    assert.ok(done.finishedAt);
    assert.equal(await fixture.buckets.leaseScan(60_000), undefined, 'a finished scan is not leased');
  });

  test('pause, resume and cancel: cancel deletes queued jobs and cancels unsettled objects', async () => {
    const scan = await fixture.buckets.createScan(newScan());
    await listedAndSubmitted(scan.id, ['in/a', 'in/b']);
    assert.equal((await fixture.buckets.setPaused('tenant-a', scan.id, true))?.paused, true);
    assert.equal(await fixture.buckets.setPaused('tenant-b', scan.id, false), undefined);
    assert.equal((await fixture.buckets.setPaused('tenant-a', scan.id, false))?.paused, false);
    const running = await fixture.store.jobs.lease(60_000);
    assert.ok(running);
    const cancelled = await fixture.buckets.cancelScan('tenant-a', scan.id);
    assert.equal(cancelled?.state, 'cancelled');
    assert.equal(await fixture.buckets.cancelScan('tenant-a', scan.id), undefined);
    assert.equal(await fixture.buckets.setPaused('tenant-a', scan.id, true), undefined);
    assert.equal(await fixture.store.jobs.lease(60_000), undefined, 'the queued job was deleted');
    assert.ok(await fixture.store.jobs.get('tenant-a', running.job.id), 'the running job finishes');
    assert.equal(await fixture.buckets.countOutstanding(scan.id), 0);
  });

  test('the event inbox is one per tenant and bucket; a sighting delivered twice is recorded once', async () => {
    const create = (tenantId: string) => () => newScan({ tenantId, origin: 'events', prefix: '' });
    const [a, b] = await Promise.all([
      fixture.buckets.eventInbox('tenant-a', 'photos', create('tenant-a')),
      fixture.buckets.eventInbox('tenant-a', 'photos', create('tenant-a')),
    ]);
    assert.equal(a.id, b.id);
    assert.equal(a.listingDone, true);
    const other = await fixture.buckets.eventInbox('tenant-b', 'photos', create('tenant-b'));
    assert.notEqual(other.id, a.id);
    const event = { ...sighting('in/x'), dedupeKey: '["in/x","","seq-1"]' };
    assert.equal((await fixture.buckets.recordSightings(a.id, [event])).length, 1);
    assert.equal(
      (await fixture.buckets.recordSightings(a.id, [{ ...event, jobId: randomUUID() }])).length,
      0,
    );
    assert.equal((await fixture.buckets.getScan('tenant-a', a.id))?.counts.listed, 1);
  });

  test('a watch pass starts over from the high-water mark minus the margin', async () => {
    const scan = await fixture.buckets.createScan(newScan({ origin: 'watch', watchIntervalMs: 60_000 }));
    assert.ok(scan.nextPassAt && scan.nextPassAt.getTime() > Date.now());
    const leased = (await fixture.buckets.leaseScan(60_000))!;
    const highWater = new Date('2026-03-01T00:00:00Z');
    assert.ok(
      await fixture.buckets.recordPage(scan.id, leased.leaseToken, [sighting('in/a')], {
        listingDone: true,
        highWater,
      }),
    );
    assert.ok(
      await fixture.buckets.startWatchPass(scan.id, leased.leaseToken, new Date(Date.now() + 60_000), 1_000),
    );
    const next = (await fixture.buckets.getScan('tenant-a', scan.id))!;
    assert.equal(next.listingDone, false);
    assert.equal(next.since?.getTime(), highWater.getTime() - 1_000);
  });

  test('retention deletes ended scans with their objects, and old settled objects of inboxes', async () => {
    const ended = await fixture.buckets.createScan(newScan());
    const token = await listedAndSubmitted(ended.id, ['in/a']);
    await completeAll();
    const [ready] = await fixture.buckets.objectsToSettle(ended.id, 10);
    await fixture.buckets.settleObject(ended.id, token, ready!.object.seq, {
      outcome: 'clean',
      actions: [],
      size: 1,
    });
    assert.ok(await fixture.buckets.finishScan(ended.id, token, 'done'));
    const running = await fixture.buckets.createScan(newScan());
    const inbox = await fixture.buckets.eventInbox('tenant-a', 'photos', () => newScan({ origin: 'events' }));
    await fixture.buckets.recordSightings(inbox.id, [sighting('in/e')]);

    assert.deepEqual(await fixture.buckets.sweepExpired(new Date(Date.now() - 60_000)), {
      scans: 0,
      objects: 0,
    });
    assert.deepEqual(await fixture.buckets.sweepExpired(new Date(Date.now() + 60_000)), {
      scans: 1,
      objects: 1,
    });
    assert.equal(await fixture.buckets.getScan('tenant-a', ended.id), undefined);
    assert.ok(await fixture.buckets.getScan('tenant-a', running.id));
    assert.equal(await fixture.buckets.countOutstanding(inbox.id), 1, 'unsettled inbox objects stay');
  });

  test('tenant default actions are stored per tenant', async () => {
    assert.equal(await fixture.buckets.getTenantActions('tenant-a'), undefined);
    await fixture.buckets.putTenantActions('tenant-a', { tag: 'bucketav', infected: 'delete' });
    await fixture.buckets.putTenantActions('tenant-a', { tag: 'bucketav', infected: 'none' });
    assert.deepEqual(await fixture.buckets.getTenantActions('tenant-a'), {
      tag: 'bucketav',
      infected: 'none',
    });
    assert.equal(await fixture.buckets.getTenantActions('tenant-b'), undefined);
  });

  test("an event inbox follows its tenant's default actions as they change", async () => {
    const inbox = await fixture.buckets.eventInbox('tenant-a', 'photos', () => newScan({ origin: 'events' }));
    const scan = await fixture.buckets.createScan(newScan());
    await fixture.buckets.putTenantActions('tenant-a', { tag: 'bucketav', infected: 'delete' });
    assert.deepEqual((await fixture.buckets.getScan('tenant-a', inbox.id))?.actions, {
      tag: 'bucketav',
      infected: 'delete',
    });
    assert.deepEqual(
      (await fixture.buckets.getScan('tenant-a', scan.id))?.actions,
      scan.actions,
      'a scan keeps its own',
    );
  });
}

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  api,
  type BucketObjectBody,
  type BucketScanBody,
  objectsOf,
  putObject,
  tagsOf,
  testS3Client,
} from '../support/buckets.ts';
import { eicarBytes } from '../support/eicar.ts';
import { metricsSnapshot } from '../support/metrics.ts';
import { ownDatabase } from '../support/postgres.ts';
import { type S3rverHandle, startS3rver } from '../support/s3rver.ts';
import {
  authHeaders,
  KEY_A,
  KEY_B,
  startTestService,
  type TestService,
  waitFor,
} from '../support/service.ts';

const BUCKET = 'events-bucket';

/** An S3 event notification as S3 sends it to SQS (and MinIO/Ceph to a webhook): the key URL-encoded. */
function s3Event(key: string, etag: string, sequencer: string, eventName = 'ObjectCreated:Put') {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        eventName,
        s3: {
          bucket: { name: BUCKET },
          object: {
            key: encodeURIComponent(key).replaceAll('%2F', '/').replaceAll('%20', '+'),
            size: 68,
            eTag: etag,
            sequencer,
          },
        },
      },
    ],
  };
}

async function postEvents(url: string, body: unknown, init: { key?: string; type?: string } = {}) {
  const response = await fetch(`${url}/v1/buckets/events`, {
    method: 'POST',
    headers: { ...authHeaders(init.key ?? KEY_A), 'content-type': init.type ?? 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function inboxObjects(url: string): Promise<Map<string, BucketObjectBody>> {
  const { body } = await api<{ scans: BucketScanBody[] & { kind: string }[] }>(
    url,
    'GET',
    '/v1/buckets/scans',
  );
  const inbox = body.scans.find((scan) => (scan as unknown as { kind: string }).kind === 'events');
  return inbox ? objectsOf(url, inbox.id) : new Map();
}

/**
 * Event idempotency, run on each store: a notification delivered twice scans its object once, and
 * /metrics counts both deliveries, one record queued and one duplicate.
 */
async function eventDeliveredTwice(service: TestService, client: S3Client, key: string): Promise<void> {
  const metrics = await metricsSnapshot(service.url);
  const etag = await putObject(client, BUCKET, key, eicarBytes());
  const event = s3Event(key, etag, '0055AED6DCD90281E5');
  const first = await postEvents(service.url, event);
  assert.equal(first.status, 202);
  assert.deepEqual(first.body, { queued: 1, duplicates: 0, ignored: 0 });
  const again = await postEvents(service.url, event);
  assert.deepEqual(again.body, { queued: 0, duplicates: 1, ignored: 0 });

  const object = await waitFor(async () => {
    const settled = (await inboxObjects(service.url)).get(key);
    return settled?.state === 'settled' ? settled : undefined;
  });
  assert.equal(object.status, 'infected');
  assert.equal((await tagsOf(client, BUCKET, key))['scangate-status'], 'infected');
  const jobs = await api<{ scans: { source: { key?: string } }[] }>(
    service.url,
    'GET',
    '/v1/scans?limit=500',
  );
  assert.equal(jobs.body.scans.filter((job) => job.source.key === key).length, 1, 'scanned once');
  assert.equal(await metrics.delta('scangate_bucket_notifications_total', { outcome: 'accepted' }), 2);
  assert.equal(await metrics.delta('scangate_bucket_notification_records_total', { outcome: 'queued' }), 1);
  assert.equal(
    await metrics.delta('scangate_bucket_notification_records_total', { outcome: 'duplicate' }),
    1,
  );
  assert.equal(await metrics.delta('scangate_bucket_objects_finished_total', { outcome: 'infected' }), 1);
  assert.equal(await metrics.delta('scangate_bucket_actions_total', { action: 'tag', outcome: 'ok' }), 1);
}

describe('S3 event notifications and prefix watches', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  let service: TestService;

  before(async () => {
    s3 = await startS3rver([BUCKET]);
    client = testS3Client(s3);
    service = await startTestService({ s3: s3.config, buckets: { grants: [`tenant-a=${BUCKET}`] } });
  });
  after(async () => {
    await service?.stop();
    client?.destroy();
    await s3?.stop();
  });

  test('an event delivered twice scans its object once; the URL-encoded key is decoded', async () => {
    await eventDeliveredTwice(service, client, 'incoming/my report+v1.com');
  });

  test('SNS (as text/plain) and EventBridge envelopes; removals and test events are ignored', async () => {
    const snsKey = 'incoming/via-sns.txt';
    const snsEtag = await putObject(client, BUCKET, snsKey, randomBytes(100));
    const sns = {
      Type: 'Notification',
      MessageId: 'm-1',
      Message: JSON.stringify(s3Event(snsKey, snsEtag, 'seq-sns')),
    };
    const viaSns = await postEvents(service.url, JSON.stringify(sns), { type: 'text/plain; charset=UTF-8' });
    assert.deepEqual(viaSns.body, { queued: 1, duplicates: 0, ignored: 0 });

    const ebKey = 'incoming/via eventbridge.txt';
    const ebEtag = await putObject(client, BUCKET, ebKey, randomBytes(100));
    const eventBridge = {
      'detail-type': 'Object Created',
      source: 'aws.s3',
      detail: {
        bucket: { name: BUCKET },
        object: { key: ebKey, size: 100, etag: ebEtag, sequencer: 'seq-eb' },
      },
    };
    assert.deepEqual((await postEvents(service.url, eventBridge)).body, {
      queued: 1,
      duplicates: 0,
      ignored: 0,
    });
    const ignored = await postEvents(service.url, [
      s3Event('incoming/gone.txt', 'x', 'seq-x', 'ObjectRemoved:Delete'),
      { Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: BUCKET },
    ]);
    assert.deepEqual(ignored.body, { queued: 0, duplicates: 0, ignored: 2 });

    for (const key of [snsKey, ebKey]) {
      await waitFor(async () =>
        (await inboxObjects(service.url)).get(key)?.state === 'settled' ? true : undefined,
      );
      assert.equal((await tagsOf(client, BUCKET, key))['scangate-status'], 'clean', key);
    }
  });

  test('notifications are authenticated and limited to granted buckets; malformed ones are refused', async () => {
    const metrics = await metricsSnapshot(service.url);
    const event = s3Event('incoming/x.txt', 'e', 's');
    const anonymous = await fetch(`${service.url}/v1/buckets/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    assert.equal(anonymous.status, 401);
    const otherTenant = await postEvents(service.url, event, { key: KEY_B });
    assert.equal(otherTenant.status, 403);
    assert.equal(otherTenant.body.code, 'bucket_not_granted');
    const notAnEvent = await postEvents(service.url, { hello: 'world' });
    assert.equal(notAnEvent.status, 400);
    assert.equal(notAnEvent.body.code, 'invalid_request');
    const badKey = await postEvents(service.url, {
      Records: [
        { eventName: 'ObjectCreated:Put', s3: { bucket: { name: BUCKET }, object: { key: '%E0%A4%A' } } },
      ],
    });
    assert.equal(badKey.status, 400);
    // Refused by the service (not granted, not an event, a bad key); an unauthenticated one never reaches it.
    assert.equal(await metrics.delta('scangate_bucket_notifications_total', { outcome: 'refused' }), 3);
    assert.equal(await metrics.delta('scangate_bucket_notifications_total', { outcome: 'accepted' }), 0);
  });

  test('a watch scans what is in the prefix, then only what is new or changed', async () => {
    const prefix = 'watched/';
    await putObject(client, BUCKET, `${prefix}old.txt`, randomBytes(64));
    const started = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/watches', {
      bucket: BUCKET,
      prefix,
      interval_seconds: 1,
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    assert.equal(started.body.state, 'watching');
    await waitFor(async () =>
      (await objectsOf(service.url, started.body.id)).get(`${prefix}old.txt`)?.state === 'settled'
        ? true
        : undefined,
    );
    await putObject(client, BUCKET, `${prefix}new.com`, eicarBytes());
    const fresh = await waitFor(async () => {
      const object = (await objectsOf(service.url, started.body.id)).get(`${prefix}new.com`);
      return object?.state === 'settled' ? object : undefined;
    });
    assert.equal(fresh.status, 'infected');
    // Two more passes: the unchanged objects are not scanned again.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const objects = await objectsOf(service.url, started.body.id);
    assert.equal(objects.size, 2);
    const progress = await api<BucketScanBody>(service.url, 'GET', `/v1/buckets/scans/${started.body.id}`);
    assert.equal(progress.body.listed, 2);
    const cancelled = await api<BucketScanBody>(
      service.url,
      'POST',
      `/v1/buckets/scans/${started.body.id}/cancel`,
    );
    assert.equal(cancelled.body.state, 'cancelled');
  });
});

describe('S3 event notifications, on PostgreSQL', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  let service: TestService;
  const database = ownDatabase('scangate_bucket_events');

  before(async () => {
    await database.create();
    s3 = await startS3rver([BUCKET]);
    client = testS3Client(s3);
    service = await startTestService({
      s3: s3.config,
      store: { databaseUrl: database.url },
      buckets: { grants: [`tenant-a=${BUCKET}`] },
    });
  });
  after(async () => {
    await service?.stop();
    client?.destroy();
    await s3?.stop();
    await database.drop();
  });

  test('an event delivered twice scans its object once; the URL-encoded key is decoded', async () => {
    await eventDeliveredTwice(service, client, 'incoming/my report+v1.com');
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  api,
  type BucketScanBody,
  exists,
  keysOf,
  objectsOf,
  putObject,
  tagsOf,
  testS3Client,
  waitForBucketScan,
} from '../support/buckets.ts';
import { eicarBytes, zipOf } from '../support/eicar.ts';
import { metricsSnapshot } from '../support/metrics.ts';
import { ownDatabase } from '../support/postgres.ts';
import { type S3rverHandle, sendS3Error, startS3rver } from '../support/s3rver.ts';
import { KEY_B, startTestService, type TestService } from '../support/service.ts';

const BUCKET = 'uploads-bucket';
const QUARANTINE = 'quarantine-bucket';
const FORBIDDEN = 'someone-elses';

/**
 * The main bucket-scan case, run on each store: a prefix of clean, EICAR, encrypted-zip and zero-byte
 * objects gets the right tags, only the infected is quarantined, and /metrics counts all of it.
 */
async function tagsAndQuarantine(service: TestService, client: S3Client, prefix: string): Promise<void> {
  const metrics = await metricsSnapshot(service.url);
  await putObject(client, BUCKET, `${prefix}report.pdf`, randomBytes(4096), {
    owner: 'team-a',
    project: 'x',
  });
  await putObject(client, BUCKET, `${prefix}eicar.com`, eicarBytes());
  const encryptedZip = await zipOf({ 'a.txt': randomBytes(512) }, { password: 'pw' });
  await putObject(client, BUCKET, `${prefix}secret.zip`, encryptedZip);
  await putObject(client, BUCKET, `${prefix}empty.txt`, Buffer.alloc(0));
  await putObject(client, BUCKET, 'elsewhere/not-in-prefix.com', eicarBytes());

  const started = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/scans', {
    bucket: BUCKET,
    prefix,
    actions: { tag: 'scangate', quarantine: `s3://${QUARANTINE}/infected/` },
  });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const done = await waitForBucketScan(service.url, started.body.id);
  assert.equal(done.state, 'done');
  assert.deepEqual(
    [done.listed, done.queued, done.clean, done.infected, done.unscannable, done.failed],
    [4, 0, 2, 1, 1, 0],
  );
  assert.equal(done.bytes, 4096 + 68 + encryptedZip.length + 0);

  const cleanTags = await tagsOf(client, BUCKET, `${prefix}report.pdf`);
  assert.equal(cleanTags['scangate-status'], 'clean');
  assert.equal(cleanTags.owner, 'team-a', 'other tags are kept');
  assert.equal(cleanTags.project, 'x');
  assert.equal(cleanTags['scangate-finding'], undefined);
  assert.ok(Date.now() - Date.parse(cleanTags['scangate-scanned-at']!) < 120_000);
  assert.equal((await tagsOf(client, BUCKET, `${prefix}empty.txt`))['scangate-status'], 'clean');
  const encrypted = await tagsOf(client, BUCKET, `${prefix}secret.zip`);
  assert.equal(encrypted['scangate-status'], 'unscannable');
  assert.match(encrypted['scangate-finding'] ?? '', /Encrypted/);

  assert.equal(await exists(client, BUCKET, `${prefix}eicar.com`), false, 'the infected original is gone');
  assert.deepEqual(await keysOf(client, QUARANTINE), [`infected/${prefix}eicar.com`]);
  const quarantined = await tagsOf(client, QUARANTINE, `infected/${prefix}eicar.com`);
  assert.equal(quarantined['scangate-status'], 'infected');
  assert.match(quarantined['scangate-finding'] ?? '', /Eicar/);
  assert.deepEqual(
    await tagsOf(client, BUCKET, 'elsewhere/not-in-prefix.com'),
    {},
    'outside the prefix: untouched',
  );

  const objects = await objectsOf(service.url, started.body.id);
  const infected = objects.get(`${prefix}eicar.com`)!;
  assert.deepEqual(
    infected.actions.map((action) => [action.action, action.ok]),
    [
      ['tag', true],
      ['quarantine', true],
    ],
  );
  // The native result of the scan job shows the same actions.
  const native = await api<{ status: string; bucket_object?: { actions: { action: string }[] } }>(
    service.url,
    'GET',
    `/v1/scans/${infected.scan_id}`,
  );
  assert.equal(native.body.status, 'infected');
  assert.deepEqual(
    native.body.bucket_object?.actions.map((action) => action.action),
    ['tag', 'quarantine'],
  );
  assert.equal(await metrics.delta('scangate_bucket_objects_total', { stage: 'listed' }), 4);
  assert.equal(await metrics.delta('scangate_bucket_objects_total', { stage: 'queued' }), 4);
  for (const [outcome, count] of [
    ['clean', 2],
    ['infected', 1],
    ['unscannable', 1],
  ] as const) {
    assert.equal(await metrics.delta('scangate_bucket_objects_finished_total', { outcome }), count, outcome);
  }
  assert.equal(await metrics.delta('scangate_bucket_actions_total', { action: 'tag', outcome: 'ok' }), 4);
  assert.equal(
    await metrics.delta('scangate_bucket_actions_total', { action: 'quarantine', outcome: 'ok' }),
    1,
  );
  assert.equal(await metrics.delta('scangate_bucket_actions_total', { action: 'tag', outcome: 'failed' }), 0);
}

describe('bucket scans against s3rver', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  let service: TestService;

  before(async () => {
    s3 = await startS3rver([BUCKET, QUARANTINE, FORBIDDEN]);
    client = testS3Client(s3);
    service = await startTestService({
      s3: s3.config,
      buckets: { grants: [`tenant-a=${BUCKET}`, `tenant-a=${QUARANTINE}/infected/`], pageSize: 2 },
    });
  });
  after(async () => {
    await service?.stop();
    client?.destroy();
    await s3?.stop();
  });

  test('clean, EICAR, encrypted zip and zero-byte objects get the right tags; only the infected is quarantined', async () => {
    await tagsAndQuarantine(service, client, 'mixed/');
  });

  test("bucketAV's own tag for drop-in replacement; infected left in place when asked", async () => {
    const prefix = 'bucketav-style/';
    await putObject(client, BUCKET, `${prefix}ok.txt`, randomBytes(100));
    await putObject(client, BUCKET, `${prefix}bad.com`, eicarBytes());
    await putObject(
      client,
      BUCKET,
      `${prefix}locked.zip`,
      await zipOf({ 'b.txt': randomBytes(64) }, { password: 'pw' }),
    );
    const started = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/scans', {
      bucket: BUCKET,
      prefix,
      actions: { tag: 'bucketav', infected: 'none' },
    });
    assert.equal(started.status, 202);
    assert.equal((await waitForBucketScan(service.url, started.body.id)).state, 'done');
    assert.deepEqual(await tagsOf(client, BUCKET, `${prefix}ok.txt`), { bucketav: 'clean' });
    assert.deepEqual(await tagsOf(client, BUCKET, `${prefix}bad.com`), { bucketav: 'infected' });
    assert.deepEqual(await tagsOf(client, BUCKET, `${prefix}locked.zip`), { bucketav: 'no' });
  });

  test('delete removes only the infected objects', async () => {
    const prefix = 'delete/';
    await putObject(client, BUCKET, `${prefix}keep.txt`, randomBytes(100));
    await putObject(client, BUCKET, `${prefix}drop.com`, eicarBytes());
    const started = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/scans', {
      bucket: BUCKET,
      prefix,
      actions: { tag: 'none', infected: 'delete' },
    });
    assert.equal((await waitForBucketScan(service.url, started.body.id)).infected, 1);
    assert.deepEqual(await keysOf(client, BUCKET, prefix), [`${prefix}keep.txt`]);
    assert.deepEqual(await tagsOf(client, BUCKET, `${prefix}keep.txt`), {});
  });

  test('an object replaced between listing and scanning is scanned again, never tagged with the old verdict', async () => {
    const prefix = 'changing/';
    const key = `${prefix}swap.bin`;
    await putObject(client, BUCKET, key, randomBytes(256));
    // The first read of the object fails (throttled); meanwhile it is replaced by EICAR.
    let replaced: Promise<string> | undefined;
    const remove = s3.intercept((request, response) => {
      if (replaced || request.method !== 'GET' || !request.url?.startsWith(`/${BUCKET}/${key}?`))
        return false;
      replaced = putObject(client, BUCKET, key, eicarBytes());
      sendS3Error(response, 503, 'SlowDown');
      return true;
    });
    try {
      const started = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/scans', {
        bucket: BUCKET,
        prefix,
      });
      const done = await waitForBucketScan(service.url, started.body.id);
      assert.ok(replaced);
      assert.deepEqual([done.clean, done.infected, done.rescans], [0, 1, 1]);
      const object = (await objectsOf(service.url, started.body.id)).get(key)!;
      assert.equal(object.scans, 2);
      assert.deepEqual(
        object.actions.map((action) => action.action),
        ['rescan', 'tag'],
      );
      assert.equal((await tagsOf(client, BUCKET, key))['scangate-status'], 'infected');
    } finally {
      remove();
    }
  });

  test("a key can't scan or quarantine into a bucket its tenant isn't granted", async () => {
    const other = await api<{ code: string }>(
      service.url,
      'POST',
      '/v1/buckets/scans',
      { bucket: BUCKET },
      KEY_B,
    );
    assert.equal(other.status, 403);
    assert.equal(other.body.code, 'bucket_not_granted');
    const notGranted = await api<{ code: string }>(service.url, 'POST', '/v1/buckets/scans', {
      bucket: FORBIDDEN,
    });
    assert.equal(notGranted.status, 403);
    const quarantineElsewhere = await api<{ code: string }>(service.url, 'POST', '/v1/buckets/scans', {
      bucket: BUCKET,
      actions: { quarantine: `s3://${QUARANTINE}/other-prefix/` },
    });
    assert.equal(quarantineElsewhere.status, 403);
    // With BUCKET_GRANTS set, single-object S3 scans are held to the same grants.
    const single = await api<{ code: string }>(service.url, 'POST', '/v1/scans/s3', {
      bucket: FORBIDDEN,
      key: 'k',
    });
    assert.equal(single.status, 403);
    assert.equal(single.body.code, 'bucket_not_granted');
    const syncBucketAv = await api<{ code: string }>(
      service.url,
      'POST',
      '/api/v1/scan/sync/s3',
      { bucket: BUCKET, key: 'k' },
      KEY_B,
    );
    assert.equal(syncBucketAv.status, 403);
    const asyncBucketAv = await api<{ code: string }>(service.url, 'POST', '/api/v1/scan/async/s3', {
      bucket: FORBIDDEN,
      key: 'k',
      trace_id: 't-1',
    });
    assert.equal(asyncBucketAv.status, 403);
    assert.equal(
      (await api(service.url, 'POST', '/v1/scans/s3', { bucket: BUCKET, key: 'x/none' })).status,
      202,
    );
    const started = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/scans', {
      bucket: BUCKET,
      prefix: 'x/',
    });
    const foreign = await api<{ code: string }>(
      service.url,
      'GET',
      `/v1/buckets/scans/${started.body.id}`,
      undefined,
      KEY_B,
    );
    assert.equal(foreign.status, 404);
  });

  test('pause stops the listing, resume finishes it, cancel ends a scan', async () => {
    const prefix = 'many/';
    for (let index = 0; index < 12; index++)
      await putObject(client, BUCKET, `${prefix}${index}.txt`, randomBytes(64));
    const started = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/scans', {
      bucket: BUCKET,
      prefix,
    });
    const paused = await api<BucketScanBody>(
      service.url,
      'POST',
      `/v1/buckets/scans/${started.body.id}/pause`,
    );
    assert.equal(paused.status, 200);
    assert.equal(paused.body.state, 'paused');
    const listedAtPause = paused.body.listed;
    // A step already under way may record one more page of 2.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const still = await api<BucketScanBody>(service.url, 'GET', `/v1/buckets/scans/${started.body.id}`);
    assert.ok(
      still.body.listed <= listedAtPause + 2 && still.body.listed < 12,
      `listed ${still.body.listed} while paused`,
    );
    assert.equal(
      (await api<BucketScanBody>(service.url, 'POST', `/v1/buckets/scans/${started.body.id}/resume`)).status,
      200,
    );
    const done = await waitForBucketScan(service.url, started.body.id);
    assert.deepEqual([done.state, done.listed, done.clean], ['done', 12, 12]);
    assert.equal(
      (await api<{ code: string }>(service.url, 'POST', `/v1/buckets/scans/${started.body.id}/pause`)).status,
      409,
    );

    const second = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/scans', {
      bucket: BUCKET,
      prefix,
    });
    const cancelled = await api<BucketScanBody>(
      service.url,
      'POST',
      `/v1/buckets/scans/${second.body.id}/cancel`,
    );
    assert.equal(cancelled.body.state, 'cancelled');
    assert.equal(cancelled.body.queued, 0);
    const later = await waitForBucketScan(service.url, second.body.id);
    assert.equal(later.state, 'cancelled');
  });

  test('a versioned bucket: each current version is scanned and acted on as that version, nothing else', async () => {
    const prefix = 'versioned/';
    const etagA = await putObject(client, BUCKET, `${prefix}a.txt`, randomBytes(50));
    const etagBad = await putObject(client, BUCKET, `${prefix}bad.com`, eicarBytes());
    const at = new Date().toISOString();
    const version = (key: string, id: string, latest: boolean, etag: string) =>
      `<Version><Key>${key}</Key><VersionId>${id}</VersionId><IsLatest>${latest}</IsLatest><LastModified>${at}</LastModified><ETag>"${etag}"</ETag><Size>50</Size><StorageClass>STANDARD</StorageClass></Version>`;
    // s3rver has no versioning: the bucket's versioning state and its version listing are answered
    // here as S3 would; reads and tag writes then carry the listed version ids (recorded requests).
    const listing =
      '<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Name>${BUCKET}</Name><Prefix>${prefix}</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>2</MaxKeys><IsTruncated>false</IsTruncated>` +
      version(`${prefix}a.txt`, 'v-a2', true, etagA) +
      version(`${prefix}a.txt`, 'v-a1', false, 'old') +
      version(`${prefix}bad.com`, 'v-b1', true, etagBad) +
      `<DeleteMarker><Key>${prefix}gone.txt</Key><VersionId>d-1</VersionId><IsLatest>true</IsLatest><LastModified>${at}</LastModified></DeleteMarker>` +
      version(`${prefix}gone.txt`, 'v-g1', false, 'gone') +
      '</ListVersionsResult>';
    const xml = (response: import('node:http').ServerResponse, body: string) => {
      response.writeHead(200, {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
      });
      response.end(body);
    };
    const remove = s3.intercept((request, response) => {
      const url = request.url ?? '';
      if (request.method !== 'GET' || !url.startsWith(`/${BUCKET}`)) return false;
      if (/[?&]versioning/.test(url)) {
        xml(
          response,
          '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>',
        );
        return true;
      }
      if (/[?&]versions/.test(url)) {
        xml(response, listing);
        return true;
      }
      return false;
    });
    const seen = s3.requests.length;
    try {
      const started = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/scans', {
        bucket: BUCKET,
        prefix,
      });
      const done = await waitForBucketScan(service.url, started.body.id);
      assert.deepEqual([done.listed, done.clean, done.infected], [2, 1, 1]);
      const objects = await objectsOf(service.url, started.body.id);
      assert.deepEqual([...objects.keys()].sort(), [`${prefix}a.txt`, `${prefix}bad.com`]);
      const sent = s3.requests.slice(seen).map((request) => `${request.method} ${request.url}`);
      const aKey = `/${BUCKET}/${prefix}a.txt`;
      assert.ok(
        sent.some(
          (line) =>
            line.startsWith(`GET ${aKey}?`) && line.includes('versionId=v-a2') && !line.includes('tagging'),
        ),
        'the job read version v-a2',
      );
      assert.ok(
        sent.some(
          (line) =>
            line.startsWith(`PUT ${aKey}?`) && line.includes('tagging') && line.includes('versionId=v-a2'),
        ),
        'and tagged that version',
      );
      assert.ok(
        !sent.some((line) => line.includes('v-a1') || line.includes('v-g1')),
        'noncurrent versions are left alone',
      );
      assert.equal((await tagsOf(client, BUCKET, `${prefix}bad.com`))['scangate-status'], 'infected');
    } finally {
      remove();
    }
  });

  test('since: only objects modified at or after it are scanned', async () => {
    const prefix = 'dated/';
    await putObject(client, BUCKET, `${prefix}old.txt`, randomBytes(10));
    const later = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/scans', {
      bucket: BUCKET,
      prefix,
      since: new Date(Date.now() + 3_600_000).toISOString(),
    });
    assert.deepEqual((await waitForBucketScan(service.url, later.body.id)).listed, 0);
    const earlier = await api<BucketScanBody>(service.url, 'POST', '/v1/buckets/scans', {
      bucket: BUCKET,
      prefix,
      since: new Date(Date.now() - 3_600_000).toISOString(),
    });
    assert.deepEqual((await waitForBucketScan(service.url, earlier.body.id)).listed, 1);
  });

  test('a bucket that does not exist fails the scan with the reason', async () => {
    const grantedButMissing = await startTestService({
      s3: s3.config,
      buckets: { grants: ['tenant-a=*'] },
    });
    try {
      const started = await api<BucketScanBody>(grantedButMissing.url, 'POST', '/v1/buckets/scans', {
        bucket: 'no-such-bucket',
      });
      const failed = await waitForBucketScan(grantedButMissing.url, started.body.id);
      assert.equal(failed.state, 'failed');
      assert.match(failed.error ?? '', /object_not_found|NoSuchBucket/);
    } finally {
      await grantedButMissing.stop();
    }
  });
});

describe('bucket scans against s3rver, on PostgreSQL', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  let service: TestService;
  const database = ownDatabase('scangate_buckets');

  before(async () => {
    await database.create();
    s3 = await startS3rver([BUCKET, QUARANTINE]);
    client = testS3Client(s3);
    service = await startTestService({
      s3: s3.config,
      store: { databaseUrl: database.url },
      buckets: { grants: [`tenant-a=${BUCKET}`, `tenant-a=${QUARANTINE}/infected/`], pageSize: 2 },
    });
  });
  after(async () => {
    await service?.stop();
    client?.destroy();
    await s3?.stop();
    await database.drop();
  });

  test('clean, EICAR, encrypted zip and zero-byte objects get the right tags; only the infected is quarantined', async () => {
    await tagsAndQuarantine(service, client, 'pg-mixed/');
  });
});

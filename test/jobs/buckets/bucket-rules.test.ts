import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BucketScan } from '../../../src/bucket-scan.ts';
import { ScanGateError } from '../../../src/errors.ts';
import { decodeS3EventKey, eventDedupeKey, parseS3Notification } from '../../../src/jobs/buckets/events.ts';
import { BucketGrants } from '../../../src/jobs/buckets/grants.ts';
import { bucketScanProgress } from '../../../src/jobs/buckets/progress.ts';
import {
  mergeTags,
  OWNED_TAG_KEYS,
  sameTagSet,
  tagValue,
  verdictTags,
} from '../../../src/jobs/buckets/tags.ts';

describe('verdict tags', () => {
  const at = new Date('2026-11-30T12:00:00Z');

  test('scangate style: status, finding when there is one, time of the scan', () => {
    assert.deepEqual(
      verdictTags('scangate', { status: 'infected', finding: 'Eicar-Signature.UNOFFICIAL' }, at),
      [
        { Key: 'scangate-status', Value: 'infected' },
        { Key: 'scangate-finding', Value: 'Eicar-Signature.UNOFFICIAL' },
        { Key: 'scangate-scanned-at', Value: '2026-11-30T12:00:00.000Z' },
      ],
    );
    assert.deepEqual(
      verdictTags('scangate', { status: 'clean' }, at).map((tag) => tag.Key),
      ['scangate-status', 'scangate-scanned-at'],
    );
  });

  test("bucketAV style: one bucketav tag in bucketAV's words (unscannable is no, other verdicts infected)", () => {
    assert.deepEqual(verdictTags('bucketav', { status: 'clean' }, at), [{ Key: 'bucketav', Value: 'clean' }]);
    assert.deepEqual(verdictTags('bucketav', { status: 'unscannable' }, at), [
      { Key: 'bucketav', Value: 'no' },
    ]);
    assert.deepEqual(verdictTags('bucketav', { status: 'blocked' }, at), [
      { Key: 'bucketav', Value: 'infected' },
    ]);
  });

  test('merging keeps every other tag and replaces only ours (an old finding is dropped)', () => {
    const existing = [
      { Key: 'owner', Value: 'team-a' },
      { Key: 'scangate-finding', Value: 'Old.Finding' },
      { Key: 'scangate-status', Value: 'infected' },
    ];
    const ours = verdictTags('scangate', { status: 'clean' }, at);
    const merged = mergeTags(existing, ours, OWNED_TAG_KEYS.scangate);
    assert.deepEqual(merged, [{ Key: 'owner', Value: 'team-a' }, ...ours]);
    assert.ok(sameTagSet(merged, [...merged].reverse()));
    assert.ok(!sameTagSet(merged, existing));
  });

  test('tag values are limited to the characters and length S3 accepts', () => {
    assert.equal(tagValue('Win.Trojan.Agent-123 {x}<y>'), 'Win.Trojan.Agent-123 _x__y_');
    assert.equal(tagValue('a'.repeat(300)).length, 256);
  });
});

describe('S3 event notifications', () => {
  test('keys are URL-decoded form-style: + is a space, %2B a plus', () => {
    assert.equal(decodeS3EventKey('dir/my+report%2Bv1.pdf'), 'dir/my report+v1.pdf');
    assert.equal(decodeS3EventKey('caf%C3%A9.txt'), 'café.txt');
    assert.throws(
      () => decodeS3EventKey('%E0%A4%A'),
      (error) => error instanceof ScanGateError,
    );
  });

  test('version "null" is no version; quotes are taken off the ETag; dedupe keys differ by sequencer', () => {
    const record = (sequencer: string) => ({
      eventName: 'ObjectCreated:CompleteMultipartUpload',
      s3: {
        bucket: { name: 'b' },
        object: { key: 'k', size: 5, eTag: '"abc"', versionId: 'null', sequencer },
      },
    });
    const parsed = parseS3Notification({ Records: [record('01'), record('02')] });
    assert.deepEqual(parsed.created[0], { bucket: 'b', key: 'k', size: 5, etag: 'abc', sequencer: '01' });
    assert.notEqual(eventDedupeKey(parsed.created[0]!), eventDedupeKey(parsed.created[1]!));
    assert.equal(
      eventDedupeKey(parsed.created[0]!),
      eventDedupeKey(parseS3Notification({ Records: [record('01')] }).created[0]!),
    );
  });

  test('an SQS message body holding an SNS envelope holding the S3 event is unwrapped', () => {
    const s3 = {
      Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'b' }, object: { key: 'a+b' } } }],
    };
    const sqs = { Body: JSON.stringify({ Type: 'Notification', Message: JSON.stringify(s3) }) };
    assert.deepEqual(
      parseS3Notification(sqs).created.map((event) => event.key),
      ['a b'],
    );
  });

  test('shapes that are not notifications are refused with invalid_request', () => {
    for (const body of [null, 'text', { Records: [{}] }, { Message: 'not json' }, { hello: 1 }]) {
      assert.throws(
        () => parseS3Notification(body),
        (error) => error instanceof ScanGateError && error.code === 'invalid_request',
        JSON.stringify(body),
      );
    }
  });
});

describe('bucket grants', () => {
  const grants = new BucketGrants(['tenant-a=photos', 'tenant-a=shared/team-a/', 'admin=*']);

  test('a tenant reaches its buckets and prefixes only; * reaches every bucket', () => {
    assert.ok(grants.allows('tenant-a', 'photos'));
    assert.ok(grants.allows('tenant-a', 'photos', 'any/prefix/'));
    assert.ok(grants.allows('tenant-a', 'shared', 'team-a/x/'));
    assert.ok(!grants.allows('tenant-a', 'shared', 'team-b/'));
    assert.ok(!grants.allows('tenant-a', 'shared'));
    assert.ok(!grants.allows('tenant-b', 'photos'));
    assert.ok(grants.allows('admin', 'anything', 'at/all'));
    assert.throws(
      () => grants.check('tenant-b', 'photos'),
      (error) => error instanceof ScanGateError && error.code === 'bucket_not_granted',
    );
  });

  test('a malformed grant is refused at start', () => {
    assert.throws(() => new BucketGrants(['photos']), /tenant=bucket/);
    assert.throws(() => new BucketGrants(['tenant-a=']), /tenant=bucket/);
  });
});

describe('bucket scan progress', () => {
  const scan = (overrides: Partial<BucketScan>): BucketScan => ({
    id: 's',
    tenantId: 't',
    origin: 'scan',
    bucket: 'b',
    prefix: '',
    actions: { tag: 'scangate', infected: 'none' },
    state: 'running',
    paused: false,
    listingDone: true,
    counts: {
      listed: 100,
      bytesListed: 1000,
      clean: 30,
      infected: 5,
      unscannable: 3,
      otherVerdicts: 0,
      failed: 1,
      skipped: 1,
      rescans: 0,
      bytesSettled: 400,
    },
    createdAt: new Date(0),
    updatedAt: new Date(0),
    ...overrides,
  });

  test('rate is settled objects per second; the ETA divides what is queued by it', () => {
    const progress = bucketScanProgress(scan({}), new Date(10_000));
    assert.equal(progress.queued, 60);
    assert.equal(progress.rate, 4);
    assert.equal(progress.etaSeconds, 15);
  });

  test('no ETA while the listing goes on; zero once finished', () => {
    assert.equal(bucketScanProgress(scan({ listingDone: false }), new Date(10_000)).etaSeconds, null);
    assert.equal(
      bucketScanProgress(scan({ state: 'done', finishedAt: new Date(5_000) }), new Date(60_000)).rate,
      8,
    );
  });
});

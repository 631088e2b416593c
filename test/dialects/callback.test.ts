import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callbackBody, callbackDeliveryFor, webhookMessageId } from '../../src/dialects/callback.ts';
import type { NewScanJob, ScanResult } from '../../src/scan.ts';

const job: NewScanJob = {
  id: 'job-1',
  tenantId: 't1',
  traceId: 'trace-9',
  dialect: 'bucketav',
  source: { kind: 'url', url: 'https://files.example/a.pdf' },
  callback: { url: 'https://hooks.example/cb', headers: { Authorization: 'Bearer x' } },
  customData: '{"order":7}',
};

const infected: ScanResult = {
  status: 'infected',
  finding: 'Eicar-Signature.UNOFFICIAL',
  size: 68,
  sha256: 'ab'.repeat(32),
  downloadTimeMs: 1234.6,
  scanTimeMs: 5,
};

test('bucketAV body: exact bytes, times in seconds', () => {
  assert.equal(
    callbackBody(job, infected),
    '{"status":"infected","finding":"Eicar-Signature.UNOFFICIAL","size":68,"download_time":1.235,' +
      '"scan_time":0.005,"download_url":"https://files.example/a.pdf","trace_id":"trace-9","custom_data":"{\\"order\\":7}"}',
  );
});

test('unscannable is "no"; s3 sources report s3://bucket/key; optional fields are left out', () => {
  const body = JSON.parse(
    callbackBody(
      { id: 'j', dialect: 'bucketav', source: { kind: 's3', bucket: 'b', key: 'dir/file name.zip' } },
      { status: 'unscannable', reason: 'too_large', size: 10 },
    ),
  );
  assert.deepEqual(body, {
    status: 'no',
    size: 10,
    download_time: 0,
    scan_time: 0,
    download_url: 's3://b/dir/file name.zip',
  });
});

test('a failed job whose bytes were never read carries no size, not an invented 0', () => {
  const body = JSON.parse(
    callbackBody(
      { id: 'j', dialect: 'bucketav', source: { kind: 'url', url: 'https://files.example/x' } },
      { status: 'unscannable', reason: 'download_failed', detail: 'HTTP 404' },
    ),
  );
  assert.equal(body.status, 'no');
  assert.equal('size' in body, false);
});

test('native dialect adds scan_id, reason and sha256', () => {
  const body = JSON.parse(
    callbackBody(
      { ...job, dialect: 'native' },
      { status: 'unscannable', reason: 'encrypted', size: 3, sha256: 'cd' },
    ),
  );
  assert.equal(body.status, 'no');
  assert.equal(body.scan_id, 'job-1');
  assert.equal(body.reason, 'encrypted');
  assert.equal(body.sha256, 'cd');
});

test('the outbox row carries the stable webhook id, the callback target and the body', () => {
  const delivery = callbackDeliveryFor(job, infected);
  assert.deepEqual(delivery, {
    id: 'msg_job-1',
    url: 'https://hooks.example/cb',
    headers: { Authorization: 'Bearer x' },
    body: callbackBody(job, infected),
  });
  assert.equal(callbackDeliveryFor({ ...job, callback: undefined }, infected), undefined);
  assert.equal(webhookMessageId('a.b/c'), 'msg_a_b_c');
});

test('a content-policy refusal is infected with a Policy finding for bucketAV, blocked with evidence natively', () => {
  const blocked = {
    status: 'blocked' as const,
    rule: 'executables',
    finding: 'Policy.Executable',
    evidence: 'executables: PE32',
    size: 512,
  };
  const vendor = JSON.parse(callbackBody(job, blocked));
  assert.equal(vendor.status, 'infected');
  assert.equal(vendor.finding, 'Policy.Executable');
  assert.equal(vendor.evidence, undefined);
  const native = JSON.parse(callbackBody({ ...job, dialect: 'native' }, blocked));
  assert.equal(native.status, 'infected');
  assert.equal(native.verdict, 'blocked');
  assert.equal(native.rule, 'executables');
  assert.equal(native.evidence, 'executables: PE32');
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { bucketProgressLine } from '../../src/cli/commands/bucket.ts';
import { exists, keysOf, putObject, tagsOf, testS3Client } from '../support/buckets.ts';
import { eicarBytes } from '../support/eicar.ts';
import { type S3rverHandle, startS3rver } from '../support/s3rver.ts';
import { KEY_A, startTestService, type TestService } from '../support/service.ts';
import { runCli } from './run-cli.ts';

describe('scangate bucket scan', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  let service: TestService;
  let env: Record<string, string>;

  before(async () => {
    s3 = await startS3rver(['cli-bucket', 'cli-quarantine']);
    client = testS3Client(s3);
    service = await startTestService({
      s3: s3.config,
      buckets: { grants: ['tenant-a=cli-bucket', 'tenant-a=cli-quarantine'], pageSize: 3 },
    });
    env = { SCANGATE_URL: service.url, SCANGATE_API_KEY: KEY_A };
  });
  after(async () => {
    await service?.stop();
    client?.destroy();
    await s3?.stop();
  });

  test('--tag --quarantine: tags every object, moves the infected, exits 1, with a progress bar', async () => {
    for (let index = 0; index < 7; index++)
      await putObject(client, 'cli-bucket', `docs/${index}.txt`, randomBytes(200));
    await putObject(client, 'cli-bucket', 'docs/bad.com', eicarBytes());
    const result = await runCli(
      [
        'bucket',
        'scan',
        's3://cli-bucket/docs/',
        '--tag',
        '--quarantine',
        's3://cli-quarantine/q/',
        '--progress',
        '--interval',
        '50',
      ],
      env,
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stdout,
      /^done: s3:\/\/cli-bucket\/docs\/ — 8 objects, 7 clean, 1 infected, 0 unscannable, 0 failed/,
    );
    assert.match(result.stderr, /s3:\/\/cli-bucket\/docs\/ \[=+\] 100%\s+8\/8 objects/);
    assert.equal(await exists(client, 'cli-bucket', 'docs/bad.com'), false);
    assert.deepEqual(await keysOf(client, 'cli-quarantine'), ['q/docs/bad.com']);
    assert.equal((await tagsOf(client, 'cli-bucket', 'docs/0.txt'))['scangate-status'], 'clean');
  });

  test('an all-clean prefix with bucketAV tags exits 0; a bucket not granted exits 3', async () => {
    await putObject(client, 'cli-bucket', 'clean-only/a.txt', randomBytes(10));
    const clean = await runCli(
      ['bucket', 'scan', 's3://cli-bucket/clean-only/', '--tag', 'bucketav', '--json'],
      env,
    );
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal((JSON.parse(clean.stdout) as { clean: number }).clean, 1);
    assert.deepEqual(await tagsOf(client, 'cli-bucket', 'clean-only/a.txt'), { bucketav: 'clean' });
    const refused = await runCli(['bucket', 'scan', 's3://elsewhere/'], env);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /bucket_not_granted, HTTP 403/);
  });

  test('the progress line shows a count while listing and a bar once the total is known', () => {
    const base = {
      id: 'x',
      bucket: 'b',
      prefix: 'p/',
      clean: 5,
      infected: 1,
      unscannable: 0,
      other: 0,
      failed: 0,
      skipped: 0,
      bytes: 2048,
      rate: 3.5,
      eta_seconds: null,
      error: null,
    };
    assert.equal(
      bucketProgressLine({ ...base, state: 'listing', listed: 10, queued: 4 }),
      's3://b/p/  listing  6/10+ objects  clean 5  infected 1  unscannable 0  3.5/s',
    );
    assert.match(
      bucketProgressLine({ ...base, state: 'scanning', listed: 12, queued: 6, eta_seconds: 2 }),
      /^s3:\/\/b\/p\/ \[=+>\s+\] {2}50% {2}6\/12 objects \(2\.0 KB\) {2}clean 5 {2}infected 1 {2}unscannable 0 {2}3\.5\/s {2}ETA 2 s$/,
    );
  });
});

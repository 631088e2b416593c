import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  api,
  type BucketObjectBody,
  type BucketScanBody,
  putObject,
  tagsOf,
  testS3Client,
  waitForBucketScan,
} from '../support/buckets.ts';
import { eicarBytes } from '../support/eicar.ts';
import { startS3rver } from '../support/s3rver.ts';
import { spawnService, TENANT_A_KEY, waitFor } from '../support/service.ts';

const BUCKET = 'durable-bucket';
const OBJECTS = 120;
const SECRET = 'never-log-this-s3-secret-7f3a9c';

describe('bucket scan durability', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('kill -9 in the middle of a bucket scan: after a restart every object has exactly one verdict', async () => {
    const s3 = await startS3rver([BUCKET]);
    const client = testS3Client(s3);
    const dataDir = await mkdtemp(path.join(tmpdir(), 'scangate-bucket-kill-'));
    dirs.push(dataDir);
    try {
      const infected = new Set<string>();
      for (let index = 0; index < OBJECTS; index++) {
        const key = `in/${String(index).padStart(4, '0')}.bin`;
        if (index % 10 === 3) infected.add(key);
        await putObject(client, BUCKET, key, infected.has(key) ? eicarBytes() : randomBytes(1024));
      }
      const env = {
        SCANGATE_DATA_DIR: dataDir,
        API_KEYS: TENANT_A_KEY,
        WORKER_CONCURRENCY: '2',
        JOB_POLL_INTERVAL_MS: '20',
        // The dead process's leases (its scan jobs and the bucket scan) expire this soon.
        JOB_LEASE_MS: '3000',
        S3_ENDPOINT: s3.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        S3_ACCESS_KEY_ID: s3.config.accessKeyId,
        // s3rver checks only the key id under SigV4, so any secret works: this one must never be logged.
        S3_SECRET_ACCESS_KEY: SECRET,
        BUCKET_GRANTS: `tenant-a=${BUCKET}`,
        BUCKET_SCAN_PAGE_SIZE: '10',
        BUCKET_SCAN_WINDOW: '30',
      };
      const logged: string[] = [];
      const keepLine = (line: Record<string, unknown>) => logged.push(JSON.stringify(line));
      const first = await spawnService(env, keepLine);
      const started = await api<BucketScanBody>(first.url, 'POST', '/v1/buckets/scans', {
        bucket: BUCKET,
        prefix: 'in/',
      });
      assert.equal(started.status, 202);
      // Killed once some verdicts are acted on and the listing is still going.
      const atKill = await waitFor(async () => {
        const { body } = await api<BucketScanBody>(first.url, 'GET', `/v1/buckets/scans/${started.body.id}`);
        return body.clean + body.infected >= 20 ? body : undefined;
      }, 60_000);
      process.kill(-first.child.pid!, 'SIGKILL');
      await first.exited;
      assert.ok(atKill.listed < OBJECTS, `the listing was still going (${atKill.listed} listed)`);

      const second = await spawnService(env, keepLine);
      try {
        const done = await waitForBucketScan(second.url, started.body.id, 120_000);
        assert.equal(done.state, 'done');
        assert.deepEqual(
          [done.listed, done.clean, done.infected, done.unscannable, done.failed, done.skipped],
          [OBJECTS, OBJECTS - infected.size, infected.size, 0, 0, 0],
        );
        const { body } = await api<{ objects: BucketObjectBody[] }>(
          second.url,
          'GET',
          `/v1/buckets/scans/${started.body.id}/objects?limit=1000`,
        );
        assert.equal(body.objects.length, OBJECTS, 'no object listed twice, none skipped');
        assert.equal(new Set(body.objects.map((object) => object.key)).size, OBJECTS);
        for (const object of body.objects) {
          assert.equal(object.state, 'settled');
          assert.equal(object.status, infected.has(object.key) ? 'infected' : 'clean', object.key);
          assert.deepEqual(
            object.actions.map((action) => [action.action, action.ok]),
            [['tag', true]],
            `${object.key}: one recorded tag`,
          );
        }
        // One scan job per object: none submitted twice across the crash.
        const jobs = await api<{ scans: { source: { key?: string } }[] }>(
          second.url,
          'GET',
          '/v1/scans?limit=500',
        );
        const scannedKeys = jobs.body.scans.map((job) => job.source.key);
        assert.equal(scannedKeys.length, OBJECTS);
        assert.equal(new Set(scannedKeys).size, OBJECTS);
        for (const key of ['in/0003.bin', 'in/0000.bin', `in/${String(OBJECTS - 1).padStart(4, '0')}.bin`]) {
          const tags = await tagsOf(client, BUCKET, key);
          assert.equal(tags['scangate-status'], infected.has(key) ? 'infected' : 'clean', key);
        }
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
      assert.ok(logged.length > 0);
      assert.deepEqual(
        logged.filter((line) => line.includes(SECRET)),
        [],
        'the S3 secret never appears in a log line',
      );
    } finally {
      client.destroy();
      await s3.stop();
    }
  });
});

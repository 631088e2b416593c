import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type BucketScanBody,
  api as bucketApi,
  putObject,
  testS3Client,
  waitForBucketScan,
} from '../support/buckets.ts';
import { startTestClamd, type TestClamd } from '../support/clamd.ts';
import { eicarBytes } from '../support/eicar.ts';
import { runSql, TEST_DATABASE_URL } from '../support/postgres.ts';
import { type S3rverHandle, startS3rver } from '../support/s3rver.ts';
import {
  authHeaders,
  KEY_A,
  type ServiceProcess,
  spawnService,
  stopServices,
  submitNativeUpload,
  TENANT_A_KEY,
  waitFor,
} from '../support/service.ts';

/** Far longer than the test waits for a verdict: only a notification can explain the pickup. */
const FALLBACK_POLL_MS = 600_000;

/** An API or worker node on its own database, sharing one data directory and one clamd. */
function nodeEnv(
  role: 'api' | 'worker',
  database: string,
  dataDir: string,
  clamd: TestClamd,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    SCANGATE_ROLE: role,
    SCANGATE_DATA_DIR: dataDir,
    DATABASE_URL: TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${database}`),
    CLAMD_ADDRESS: clamd.socketPath,
    API_KEYS: TENANT_A_KEY,
    JOB_POLL_INTERVAL_MS: String(FALLBACK_POLL_MS),
    ...extra,
  };
}

describe('PostgreSQL LISTEN/NOTIFY: a worker in another process is woken by a submit', () => {
  const database = `scangate_notify_${randomBytes(4).toString('hex')}`;
  const processes: ServiceProcess[] = [];
  let clamd: TestClamd;
  let dataDir: string;
  let api: ServiceProcess;

  before(async () => {
    await runSql(`CREATE DATABASE ${database}`);
    clamd = await startTestClamd();
    // One directory for both nodes: the worker reads the uploads the API node staged there.
    dataDir = await mkdtemp(path.join(tmpdir(), 'scangate-notify-'));
    api = await spawnService(nodeEnv('api', database, dataDir, clamd));
    processes.push(api, await spawnService(nodeEnv('worker', database, dataDir, clamd)));
  });

  after(async () => {
    await stopServices(processes);
    await clamd?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await runSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  const scanToVerdict = async (): Promise<string> => {
    const response = await submitNativeUpload(api.url, randomBytes(2048));
    assert.equal(response.status, 202);
    const { id } = (await response.json()) as { id: string };
    const done = await waitFor(async () => {
      const read = await fetch(`${api.url}/v1/scans/${id}`, { headers: authHeaders(KEY_A) });
      const body = (await read.json()) as { status: string };
      return body.status === 'pending' ? undefined : body;
    }, 60_000);
    return done.status;
  };

  test('a job submitted on the API node is scanned by the idle worker node', async () => {
    // The worker leased once at start and found nothing: it now sleeps on its fallback poll.
    assert.equal(await scanToVerdict(), 'clean');
  });

  test('the worker dials its LISTEN connection again when it drops, and is woken through it', async () => {
    const terminated = await runSql(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = $1 AND application_name = 'scangate-listen'`,
      [database],
    );
    assert.ok((terminated.rowCount ?? 0) >= 1, 'the worker held a LISTEN connection');
    assert.equal(await scanToVerdict(), 'clean');
    assert.equal(await scanToVerdict(), 'clean');
  });
});

describe('PostgreSQL LISTEN/NOTIFY: a bucket scan created on an API node wakes the walker of another', () => {
  const database = `scangate_notify_buckets_${randomBytes(4).toString('hex')}`;
  const BUCKET = 'notify-bucket';
  const processes: ServiceProcess[] = [];
  let clamd: TestClamd;
  let s3: S3rverHandle;
  let dataDir: string;
  let api: ServiceProcess;

  before(async () => {
    await runSql(`CREATE DATABASE ${database}`);
    clamd = await startTestClamd();
    s3 = await startS3rver([BUCKET]);
    dataDir = await mkdtemp(path.join(tmpdir(), 'scangate-notify-buckets-'));
    const env = (role: 'api' | 'worker'): Record<string, string> =>
      nodeEnv(role, database, dataDir, clamd, {
        BUCKET_GRANTS: `tenant-a=${BUCKET}`,
        S3_ENDPOINT: s3.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        S3_REGION: 'us-east-1',
        S3_ACCESS_KEY_ID: s3.config.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.config.secretAccessKey,
        // A walker with no scan sleeps up to the lease time: far longer than the test waits.
        JOB_LEASE_MS: String(FALLBACK_POLL_MS),
      });
    api = await spawnService(env('api'));
    processes.push(api, await spawnService(env('worker')));
  });

  after(async () => {
    await stopServices(processes);
    await s3?.stop();
    await clamd?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await runSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  test('the idle worker node walks the new scan to its end', async () => {
    const client = testS3Client(s3);
    try {
      await putObject(client, BUCKET, 'in/clean.bin', randomBytes(4096));
      await putObject(client, BUCKET, 'in/eicar.com', eicarBytes());
    } finally {
      client.destroy();
    }
    // The worker's walker found no scan at start: it now sleeps for the lease time, unless woken.
    const started = await bucketApi<BucketScanBody>(api.url, 'POST', '/v1/buckets/scans', {
      bucket: BUCKET,
      prefix: 'in/',
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const done = await waitForBucketScan(api.url, started.body.id);
    assert.equal(done.state, 'done');
    assert.deepEqual([done.listed, done.clean, done.infected], [2, 1, 1]);
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { startTestClamd, type TestClamd } from '../support/clamd.ts';
import { runSql, TEST_DATABASE_URL } from '../support/postgres.ts';
import { type S3rverHandle, startS3rver } from '../support/s3rver.ts';
import {
  authHeaders,
  KEY_A,
  type ServiceProcess,
  spawnService,
  stopServices,
  TENANT_A_KEY,
  waitFor,
} from '../support/service.ts';

const JOBS = 500;
/** How long a frozen worker's last COMMIT gets to land before its committed leases are read. */
const COMMIT_SETTLE_MS = 250;

describe('scale-out: 2 API nodes and 2 workers over PostgreSQL, S3 staging and one clamd', () => {
  const database = `scangate_cluster_${randomBytes(4).toString('hex')}`;
  const processes: ServiceProcess[] = [];
  let clamd: TestClamd;
  let s3: S3rverHandle;
  let dataRoot: string;
  /** jobId → how many workers logged a stored verdict for it. */
  const verdictsLogged = new Map<string, number>();

  before(async () => {
    await runSql(`CREATE DATABASE ${database}`);
    clamd = await startTestClamd({ maxThreads: 4 });
    s3 = await startS3rver(['staging']);
    dataRoot = await mkdtemp(path.join(tmpdir(), 'scangate-cluster-'));
  });

  after(async () => {
    await stopServices(processes);
    await s3.stop();
    await clamd.stop();
    await rm(dataRoot, { recursive: true, force: true });
    await runSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  const nodeEnv = (role: 'api' | 'worker', name: string): Record<string, string> => ({
    SCANGATE_ROLE: role,
    SCANGATE_DATA_DIR: path.join(dataRoot, name),
    DATABASE_URL: TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${database}`),
    CLAMD_ADDRESS: clamd.socketPath,
    SIGNATURES: 'test',
    BLOB_S3_BUCKET: 'staging',
    S3_ENDPOINT: s3.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    S3_REGION: 'us-east-1',
    S3_ACCESS_KEY_ID: s3.config.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.config.secretAccessKey,
    API_KEYS: TENANT_A_KEY,
    WORKER_CONCURRENCY: '2',
    JOB_LEASE_MS: '3000',
    JOB_POLL_INTERVAL_MS: '20',
    // The orphan sweep removes an upload whose worker was killed between its verdict and its delete.
    SWEEP_INTERVAL_MS: '1000',
  });

  const countVerdicts = (line: Record<string, unknown>) => {
    if (line.msg === 'scan finished' && typeof line.jobId === 'string')
      verdictsLogged.set(line.jobId, (verdictsLogged.get(line.jobId) ?? 0) + 1);
  };

  test('500 jobs across both API nodes, one worker SIGKILLed mid-scan: every job has exactly one verdict', async () => {
    const apis = [await spawnService(nodeEnv('api', 'api-1')), await spawnService(nodeEnv('api', 'api-2'))];
    processes.push(...apis);
    const doomedWorker = await spawnService(nodeEnv('worker', 'worker-1'), countVerdicts);
    const survivingWorker = await spawnService(nodeEnv('worker', 'worker-2'), countVerdicts);
    processes.push(doomedWorker, survivingWorker);

    const submitted: { id: string; infected: boolean }[] = [];
    let next = 0;
    const submitter = async () => {
      while (next < JOBS) {
        const index = next++;
        const infected = index % 7 === 0;
        const form = new FormData();
        // Every third file is over INLINE_UPLOAD_MAX_BYTES: staged in S3 rather than stored with its job.
        const clean = randomBytes(index % 3 === 1 ? 140_000 : 4096);
        form.set('file', new Blob([infected ? eicarBytes() : clean]), `f${index}.bin`);
        const api = apis[index % 2]!;
        const response = await fetch(`${api.url}/api/v1/scans/initiate`, {
          method: 'POST',
          headers: authHeaders(KEY_A, 'x-api-key'),
          body: form,
        });
        assert.equal(response.status, 200);
        submitted.push({ id: ((await response.json()) as { scanId: string }).scanId, infected });
      }
    };
    // Both workers wait, frozen, until a backlog has built up. Then the doomed worker runs alone:
    // with hundreds of jobs queued, each of its slots holds a lease whenever it is frozen below (a
    // worker sharing the queue can sit idle between jobs and be frozen holding none). The surviving
    // worker, frozen before its first lease, holds none, so a job leased a second time can only be
    // one the doomed worker held.
    const workerGroups = [-doomedWorker.child.pid!, -survivingWorker.child.pid!];
    for (const group of workerGroups) process.kill(group, 'SIGSTOP');
    const submitting = Promise.all(Array.from({ length: 6 }, submitter));
    await waitFor(async () => (submitted.length >= JOBS / 2 ? true : undefined), 120_000, 20);
    process.kill(-doomedWorker.child.pid!, 'SIGCONT');

    // Kill the doomed worker once it has stored some verdicts, at a moment its committed leases
    // show it mid-scan. It is frozen to look (a plain SELECT waits for no lock, even one held by a
    // transaction the freeze left open) and killed frozen: its connections die, PostgreSQL rolls
    // back whatever it had open, and the surviving worker, let go only now, finds its leases.
    await waitFor(async () => (verdictsLogged.size >= 50 ? true : undefined), 120_000, 20);
    const clusterDatabase = new pg.Client({ connectionString: nodeEnv('worker', 'probe').DATABASE_URL });
    await clusterDatabase.connect();
    try {
      await waitFor(
        async () => {
          process.kill(-doomedWorker.child.pid!, 'SIGSTOP');
          // A COMMIT the worker sent just before the freeze may still be landing: read after it has,
          // or the running jobs seen can turn out finished (a run with none retaken, on a busy machine).
          await sleep(COMMIT_SETTLE_MS);
          const { rows } = await clusterDatabase.query(
            "SELECT count(*) AS n FROM jobs WHERE state = 'running'",
          );
          if (Number(rows[0].n) > 0) return true;
          process.kill(-doomedWorker.child.pid!, 'SIGCONT');
          return undefined;
        },
        30_000,
        10,
      );
    } finally {
      await clusterDatabase.end();
    }
    process.kill(-doomedWorker.child.pid!, 'SIGKILL');
    await doomedWorker.exited;
    process.kill(-survivingWorker.child.pid!, 'SIGCONT');
    await submitting;
    assert.equal(submitted.length, JOBS);

    let retakenAfterKill = 0;
    for (const { id, infected } of submitted) {
      const api = apis[Math.floor(Math.random() * 2)]!;
      const result = await waitFor(async () => {
        const response = await fetch(`${api.url}/v1/scans/${id}`, { headers: authHeaders(KEY_A) });
        assert.equal(response.status, 200, `job ${id} is known to every API node`);
        const body = (await response.json()) as { status: string; attempts: number };
        return body.status === 'pending' ? undefined : body;
      }, 120_000);
      assert.equal(result.status, infected ? 'infected' : 'clean', `job ${id}`);
      if (result.attempts > 1) retakenAfterKill++;
    }
    assert.ok(retakenAfterKill > 0, 'the killed worker held leases that the other worker took over');

    const duplicates = [...verdictsLogged].filter(([, count]) => count !== 1);
    assert.deepEqual(duplicates, [], 'no job got a second stored verdict');
    // The kill can fall between a verdict and its upload's delete: the orphan sweep (two looks in a
    // row finding no unfinished job for it) removes that one.
    const left = await waitFor(
      async () => ((await listStaged(s3)).length === 0 ? [] : undefined),
      30_000,
    ).catch(() => listStaged(s3));
    assert.deepEqual(left, [], 'no staged upload is left in the bucket');
  });
});

async function listStaged(s3: S3rverHandle): Promise<string[]> {
  const { S3Client, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: s3.config,
  });
  const listed = await client.send(new ListObjectsV2Command({ Bucket: 'staging' }));
  client.destroy();
  return (listed.Contents ?? []).map((object) => object.Key ?? '');
}

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { eicarBytes } from '../../src/engine/eicar.ts';
import {
  authHeaders,
  KEY_A,
  spawnService,
  startTestService,
  TENANT_A_KEY,
  waitFor,
} from '../support/service.ts';

describe('durability and retention', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('kill -9 while 100 jobs are queued: after a restart every job gets its verdict', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'scangate-kill-'));
    dirs.push(dataDir);
    const env = {
      SCANGATE_DATA_DIR: dataDir,
      API_KEYS: TENANT_A_KEY,
      WORKER_CONCURRENCY: '1',
      JOB_POLL_INTERVAL_MS: '20',
    };
    const first = await spawnService(env);
    const scanIds: { id: string; infected: boolean }[] = [];
    for (let index = 0; index < 100; index++) {
      const infected = index % 10 === 0;
      const form = new FormData();
      form.set('file', new Blob([infected ? eicarBytes() : randomBytes(2048)]), `f${index}.bin`);
      const response = await fetch(`${first.url}/api/v1/scans/initiate`, {
        method: 'POST',
        headers: authHeaders(KEY_A, 'x-api-key'),
        body: form,
      });
      assert.equal(response.status, 200);
      scanIds.push({ id: ((await response.json()) as { scanId: string }).scanId, infected });
    }
    // SIGKILL the whole process group: the service and its managed clamd die as in a power cut.
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exited;

    const second = await spawnService(env);
    try {
      for (const { id, infected } of scanIds) {
        const result = await waitFor(async () => {
          const response = await fetch(`${second.url}/api/v1/scans/${id}`, {
            headers: authHeaders(KEY_A, 'x-api-key'),
          });
          assert.equal(response.status, 200, `scan ${id} must still exist`);
          const body = (await response.json()) as { scanResult: string };
          return body.scanResult === 'pending' ? undefined : body.scanResult;
        }, 60_000);
        assert.equal(result, infected ? 'completed_infected' : 'completed_clean');
      }
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  test('a staged upload left behind by a crash is removed by the sweep', async () => {
    const service = await startTestService({ jobs: { sweepIntervalMs: 100 } });
    try {
      const uploads = path.join(service.dataDir, 'uploads');
      const orphan = path.join(uploads, randomUUID());
      await writeFile(orphan, 'left behind after a kill -9 between verdict and delete');
      await waitFor(async () => (existsSync(orphan) ? undefined : true), 10_000);
    } finally {
      await service.stop();
    }
  });

  test('a result is gone after the retention period', async () => {
    const service = await startTestService({ jobs: { resultRetentionSeconds: 1, sweepIntervalMs: 200 } });
    try {
      const form = new FormData();
      form.set('trace_id', 'short-lived');
      form.set('file', new Blob([randomBytes(100)]), 'a.bin');
      await fetch(`${service.url}/v1/scans/file`, {
        method: 'POST',
        headers: authHeaders(KEY_A),
        body: form,
      });
      const poll = () =>
        fetch(`${service.url}/api/v1/scan/async/result?trace_id=short-lived`, {
          headers: authHeaders(KEY_A),
        });
      await waitFor(async () => ((await poll()).status === 200 ? true : undefined));
      await waitFor(async () => ((await poll()).status === 404 ? true : undefined), 10_000);
    } finally {
      await service.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  authHeaders,
  KEY_A,
  startTestService,
  submitNativeUpload,
  type TestService,
} from '../support/service.ts';

describe('with no clamd answering, nothing is judged', () => {
  let service: TestService;

  before(async () => {
    const deadSocket = path.join(tmpdir(), `scangate-no-clamd-${process.pid}.sock`);
    service = await startTestService({ engine: { addresses: [deadSocket], healthCheckIntervalMs: 200 } });
  });
  after(() => service.stop());

  test('sync binary and form answer 503 engine_unavailable, never a verdict', async () => {
    const binary = await fetch(`${service.url}/api/v1/scan/sync/binary`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/octet-stream' },
      body: randomBytes(256 * 1024),
    });
    assert.equal(binary.status, 503);
    assert.equal(((await binary.json()) as { code: string }).code, 'engine_unavailable');

    const form = new FormData();
    form.set('file', new Blob([randomBytes(1024)]), 'a.bin');
    const formResponse = await fetch(`${service.url}/api/v1/scan/sync/form`, {
      method: 'POST',
      headers: authHeaders(KEY_A),
      body: form,
    });
    assert.equal(formResponse.status, 503);
  });

  test('async uploads stay pending while the engine is down, and readiness says why', async () => {
    const submitted = await submitNativeUpload(service.url, randomBytes(1024), { filename: 'a.bin' });
    assert.equal(submitted.status, 202);
    const { id } = (await submitted.json()) as { id: string };
    const ready = await fetch(`${service.url}/readyz`);
    assert.equal(ready.status, 503);
    const job = (await (
      await fetch(`${service.url}/v1/scans/${id}`, { headers: authHeaders(KEY_A) })
    ).json()) as { status: string };
    assert.equal(job.status, 'pending');
  });
});

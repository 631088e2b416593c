import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eicarBytes } from '../../src/engine/eicar.ts';
import {
  authHeaders,
  KEY_A,
  KEY_B,
  startTestService,
  type TestService,
  waitFor,
} from '../support/service.ts';

interface BucketScanStatus {
  status: number;
  message: string;
  scanId: string;
  scanResult: string;
}

describe('Bucketscan dialect and native API over real HTTP', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService();
  });
  after(() => service.stop());

  const initiate = (bytes: Buffer, name: string, key = KEY_A) => {
    const form = new FormData();
    form.set('file', new Blob([bytes]), name);
    return fetch(`${service.url}/api/v1/scans/initiate`, {
      method: 'POST',
      headers: authHeaders(key, 'x-api-key'),
      body: form,
    });
  };

  const finalStatus = (scanId: string, key = KEY_A) =>
    waitFor(async () => {
      const response = await fetch(`${service.url}/api/v1/scans/${scanId}`, {
        headers: authHeaders(key, 'x-api-key'),
      });
      assert.equal(response.status, 200);
      const body = (await response.json()) as BucketScanStatus;
      return body.scanResult === 'pending' ? undefined : body;
    });

  test('initiate + poll: EICAR is completed_infected, random bytes completed_clean', async () => {
    const infected = await initiate(eicarBytes(), 'eicar.com');
    assert.equal(infected.status, 200);
    const infectedBody = (await infected.json()) as BucketScanStatus;
    assert.equal(infectedBody.status, 200);
    assert.equal(infectedBody.message, 'Successfully uploaded eicar.com!');
    assert.match(infectedBody.scanId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(await finalStatus(infectedBody.scanId), {
      status: 200,
      message: 'OK',
      scanId: infectedBody.scanId,
      scanResult: 'completed_infected',
    });

    const cleanBody = (await (await initiate(randomBytes(100_000), 'photo.jpg')).json()) as BucketScanStatus;
    assert.equal((await finalStatus(cleanBody.scanId)).scanResult, 'completed_clean');
  });

  test('staged uploads are deleted once the verdict is stored', async () => {
    // Larger than INLINE_UPLOAD_MAX_BYTES: staged as a file, not stored with the job.
    const body = (await (await initiate(randomBytes(140_000), 'x.bin')).json()) as BucketScanStatus;
    await finalStatus(body.scanId);
    const staged = await readdir(path.join(service.dataDir, 'uploads')).catch(() => []);
    assert.deepEqual(
      staged.filter((name) => name.includes(body.scanId)),
      [],
    );
  });

  test('the native API gives the full result', async () => {
    const form = new FormData();
    form.set('trace_id', 'native-1');
    form.set('file', new Blob([eicarBytes()]), 'eicar.com');
    const submitted = await fetch(`${service.url}/v1/scans/file`, {
      method: 'POST',
      headers: authHeaders(KEY_A),
      body: form,
    });
    assert.equal(submitted.status, 202);
    const { id } = (await submitted.json()) as { id: string };
    const result = await waitFor(async () => {
      const body = (await (
        await fetch(`${service.url}/v1/scans/${id}`, { headers: authHeaders(KEY_A) })
      ).json()) as Record<string, unknown>;
      return body.status === 'pending' ? undefined : body;
    });
    assert.equal(result.status, 'infected');
    assert.equal(result.trace_id, 'native-1');
    assert.match(result.finding as string, /^Eicar/);
    assert.equal(result.size, 68);
    assert.equal(result.sha256, '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f');
    assert.equal(result.engine, 'clamav');
    assert.match(result.engine_version as string, /^\d+\.\d+/);
    assert.ok(typeof result.signature_version === 'string' && result.signature_version.length > 0);
    assert.equal(typeof result.scan_time, 'number');
    assert.ok(result.created_at && result.completed_at);

    const listed = (await (
      await fetch(`${service.url}/v1/scans?status=infected`, { headers: authHeaders(KEY_A) })
    ).json()) as {
      scans: { id: string }[];
    };
    assert.ok(listed.scans.some((scan) => scan.id === id));
  });

  test('another key cannot read a scan: 404 for scanId, trace_id and native id', async () => {
    const body = (await (await initiate(randomBytes(512), 'a.bin')).json()) as BucketScanStatus;
    await finalStatus(body.scanId);
    const foreign = await fetch(`${service.url}/api/v1/scans/${body.scanId}`, {
      headers: authHeaders(KEY_B, 'x-api-key'),
    });
    assert.equal(foreign.status, 404);
    assert.equal(
      (await fetch(`${service.url}/v1/scans/${body.scanId}`, { headers: authHeaders(KEY_B) })).status,
      404,
    );

    const form = new FormData();
    form.set('trace_id', 'shared-trace');
    form.set('file', new Blob([randomBytes(64)]), 'b.bin');
    await fetch(`${service.url}/v1/scans/file`, { method: 'POST', headers: authHeaders(KEY_A), body: form });
    await waitFor(async () => {
      const response = await fetch(`${service.url}/api/v1/scan/async/result?trace_id=shared-trace`, {
        headers: authHeaders(KEY_A),
      });
      return response.status === 200 ? true : undefined;
    });
    const other = await fetch(`${service.url}/api/v1/scan/async/result?trace_id=shared-trace`, {
      headers: authHeaders(KEY_B),
    });
    assert.equal(other.status, 404);
  });

  test('OpenAPI document and docs page are served', async () => {
    const openapi = (await (await fetch(`${service.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    assert.match(openapi.openapi, /^3\./);
    for (const route of [
      '/api/v1/scan/async/download',
      '/api/v1/scans/initiate',
      '/v1/scans/{id}',
      '/api/v1/scan/sync/binary',
    ])
      assert.ok(openapi.paths[route], `${route} documented`);
    assert.equal((await fetch(`${service.url}/docs/`)).status, 200);
  });
});

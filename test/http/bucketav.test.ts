import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { authHeaders, KEY_A, startTestService, type TestService, waitFor } from '../support/service.ts';

const clean = randomBytes(4096);

describe('bucketAV dialect over real HTTP with a real clamd', () => {
  let service: TestService;
  let files: Server;
  let filesUrl: string;

  before(async () => {
    service = await startTestService({ network: { allowCidrs: ['127.0.0.0/8'] } });
    files = createServer((request, response) => {
      const body =
        request.url === '/eicar.txt' ? eicarBytes() : request.url === '/clean.bin' ? clean : undefined;
      if (!body) return response.writeHead(404).end();
      response.writeHead(200, { 'content-length': body.length }).end(body);
    });
    files.listen(0, '127.0.0.1');
    await new Promise((resolve) => files.once('listening', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });

  after(async () => {
    files.close();
    await service.stop();
  });

  const post = (path: string, body: unknown) =>
    fetch(`${service.url}${path}`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  const pollResult = (traceId: string) =>
    waitFor(async () => {
      const response = await fetch(`${service.url}/api/v1/scan/async/result?trace_id=${traceId}`, {
        headers: authHeaders(KEY_A),
      });
      if (response.status === 404) return undefined;
      assert.equal(response.status, 200);
      return (await response.json()) as { status: string; finding?: string; size?: number };
    });

  test('GET /api/v1/test answers 204 for a valid key and 401 without one', async () => {
    assert.equal((await fetch(`${service.url}/api/v1/test`, { headers: authHeaders(KEY_A) })).status, 204);
    const refused = await fetch(`${service.url}/api/v1/test`);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { code: string }).code, 'unauthorized');
    assert.equal(
      (await fetch(`${service.url}/api/v1/test`, { headers: authHeaders('wrong-key-123456') })).status,
      401,
    );
  });

  test('async download with trace_id: 201 + Location, 404 until done, then the verdict', async () => {
    const traceId = randomUUID();
    const submitted = await post('/api/v1/scan/async/download', {
      download_url: `${filesUrl}/eicar.txt`,
      trace_id: traceId,
    });
    assert.equal(submitted.status, 201);
    assert.equal(
      submitted.headers.get('location'),
      `${service.url}/api/v1/scan/async/result?trace_id=${traceId}`,
    );
    assert.equal(await submitted.text(), '');
    const result = await pollResult(traceId);
    assert.equal(result.status, 'infected');
    assert.match(result.finding!, /^Eicar/);
    assert.equal(result.size, 68);

    const cleanTrace = randomUUID();
    assert.equal(
      (
        await post('/api/v1/scan/async/download', {
          download_url: `${filesUrl}/clean.bin`,
          trace_id: cleanTrace,
        })
      ).status,
      201,
    );
    assert.deepEqual(await pollResult(cleanTrace), { status: 'clean', size: clean.length });
  });

  test('a download that fails for good is status "no", never clean', async () => {
    const traceId = randomUUID();
    assert.equal(
      (await post('/api/v1/scan/async/download', { download_url: `${filesUrl}/missing`, trace_id: traceId }))
        .status,
      201,
    );
    assert.equal((await pollResult(traceId)).status, 'no');
  });

  test('async download with callback_url answers 204', async () => {
    const response = await post('/api/v1/scan/async/download', {
      download_url: `${filesUrl}/clean.bin`,
      callback_url: `${filesUrl}/callback`,
    });
    assert.equal(response.status, 204);
  });

  test('the same trace_id twice while pending is 409', async () => {
    const traceId = randomUUID();
    // A URL that never answers keeps the first job pending.
    const hanging = createServer(() => undefined);
    hanging.listen(0, '127.0.0.1');
    await new Promise((resolve) => hanging.once('listening', resolve));
    const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/slow`;
    try {
      assert.equal(
        (await post('/api/v1/scan/async/download', { download_url: url, trace_id: traceId })).status,
        201,
      );
      const duplicate = await post('/api/v1/scan/async/download', { download_url: url, trace_id: traceId });
      assert.equal(duplicate.status, 409);
      assert.equal(((await duplicate.json()) as { code: string }).code, 'duplicate_trace_id');
    } finally {
      hanging.closeAllConnections();
      hanging.close();
    }
  });

  test('async s3 is validated, and refused while this server has no S3 credentials', async () => {
    const traceId = randomUUID();
    const accepted = await post('/api/v1/scan/async/s3', {
      bucket: 'uploads',
      key: 'a/b.pdf',
      trace_id: traceId,
    });
    assert.equal(accepted.status, 503);
    assert.equal(((await accepted.json()) as { code: string }).code, 's3_not_configured');
    const invalid = await post('/api/v1/scan/async/s3', { bucket: 'uploads', trace_id: traceId });
    assert.equal(invalid.status, 400);
    assert.equal(((await invalid.json()) as { code: string }).code, 'invalid_request');
  });

  test('sync download, binary and form answer the verdict', async () => {
    const download = await post('/api/v1/scan/sync/download', { download_url: `${filesUrl}/eicar.txt` });
    assert.equal(download.status, 200);
    const downloadBody = (await download.json()) as { status: string; finding: string };
    assert.equal(downloadBody.status, 'infected');
    assert.match(downloadBody.finding, /^Eicar/);

    const binary = await fetch(`${service.url}/api/v1/scan/sync/binary`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/octet-stream' },
      body: clean,
    });
    assert.equal(binary.status, 200);
    assert.deepEqual(await binary.json(), { status: 'clean', size: clean.length });

    const form = new FormData();
    form.set('file', new Blob([eicarBytes()]), 'eicar.com');
    const formResponse = await fetch(`${service.url}/api/v1/scan/sync/form`, {
      method: 'POST',
      headers: authHeaders(KEY_A),
      body: form,
    });
    assert.equal(formResponse.status, 200);
    assert.equal(((await formResponse.json()) as { status: string }).status, 'infected');
  });
});

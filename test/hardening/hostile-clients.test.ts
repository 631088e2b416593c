import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import {
  authHeaders,
  KEY_A,
  KEY_B,
  startTestService,
  type TestService,
  waitFor,
} from '../support/service.ts';
import { assertNoLeak, expectRefusal } from './error-body.ts';

const KiB = 1024;

function form(build: (data: FormData) => void): FormData {
  const data = new FormData();
  build(data);
  return data;
}

describe('hostile clients: limits on bodies, headers and forms', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService({ limits: { maxFileSizeBytes: 64 * KiB } });
  });
  after(() => service.stop());

  const post = (route: string, body: FormData | string, headers: Record<string, string> = {}) =>
    fetch(`${service.url}${route}`, { method: 'POST', headers: { ...authHeaders(KEY_A), ...headers }, body });
  const postJson = (route: string, body: string) => post(route, body, { 'content-type': 'application/json' });

  test('JSON over the body limit (64 KiB) → 413 payload_too_large', async () => {
    const body = JSON.stringify({ url: 'http://files.example/a', custom_data: 'x'.repeat(70 * KiB) });
    await expectRefusal(await postJson('/v1/scans/url', body), 413, 'payload_too_large');
  });

  test('__proto__ and constructor.prototype JSON keys → 400', async () => {
    await expectRefusal(
      await postJson('/v1/scans/url', '{"url":"http://files.example/a","__proto__":{"polluted":true}}'),
      400,
      'invalid_request',
    );
    await expectRefusal(
      await postJson(
        '/api/v1/scan/async/download',
        '{"download_url":"http://files.example/a","constructor":{"prototype":{"polluted":true}}}',
      ),
      400,
      'invalid_request',
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('17 KiB of headers → 431, the connection closed, and the service still answers', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(`${service.url}/api/v1/test`, {
        headers: { ...authHeaders(KEY_A), 'x-padding': 'p'.repeat(17 * KiB) },
      });
      request.on('response', (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      });
      request.on('error', reject);
      request.end();
    });
    assert.equal(status, 431);
    assertNoLeak(body);
    assert.equal((await fetch(`${service.url}/api/v1/test`, { headers: authHeaders(KEY_A) })).status, 204);
  });

  test('two files in one form → 413 on every upload route, nothing staged', async () => {
    for (const route of ['/v1/scans/file', '/api/v1/scans/initiate', '/api/v1/scan/sync/form']) {
      const body = form((data) => {
        data.append('file', new Blob(['first']), 'a.txt');
        data.append('file', new Blob(['second']), 'b.txt');
      });
      await expectRefusal(await post(route, body), 413, 'payload_too_large');
    }
    assert.deepEqual(await readdir(path.join(service.dataDir, 'uploads')), []);
  });

  test('too many fields, an oversized field, a field after the file → refused with a code', async () => {
    const tooMany = form((data) => {
      for (let index = 0; index < 11; index++) data.append(`field${index}`, 'x');
      data.append('file', new Blob(['content']), 'a.txt');
    });
    await expectRefusal(await post('/v1/scans/file', tooMany), 413, 'payload_too_large');
    const oversized = form((data) => {
      data.append('custom_data', 'x'.repeat(65 * KiB));
      data.append('file', new Blob(['content']), 'a.txt');
    });
    await expectRefusal(await post('/v1/scans/file', oversized), 413, 'payload_too_large');
    const longTrace = form((data) => {
      data.append('trace_id', 't'.repeat(300));
      data.append('file', new Blob(['content']), 'a.txt');
    });
    await expectRefusal(await post('/v1/scans/file', longTrace), 400, 'invalid_request');
    const trailing = form((data) => {
      data.append('file', new Blob(['content']), 'a.txt');
      data.append('trace_id', 'after-the-file');
    });
    await expectRefusal(await post('/v1/scans/file', trailing), 400, 'invalid_request');
    assert.deepEqual(await readdir(path.join(service.dataDir, 'uploads')), []);
  });

  test('__proto__ as a form field or file name → 400', async () => {
    const field = form((data) => {
      data.append('__proto__', 'x');
      data.append('file', new Blob(['content']), 'a.txt');
    });
    await expectRefusal(await post('/v1/scans/file', field), 400, 'invalid_request');
    const file = form((data) => data.append('__proto__', new Blob(['content']), 'a.txt'));
    await expectRefusal(await post('/api/v1/scans/initiate', file), 400, 'invalid_request');
  });

  test('malformed multipart bodies → 400, never 500', async () => {
    const type = (boundary: string) => ({ 'content-type': `multipart/form-data${boundary}` });
    await expectRefusal(
      await post('/v1/scans/file', '--xx\r\nbroken', type('; boundary=xx')),
      400,
      'invalid_request',
    );
    await expectRefusal(await post('/v1/scans/file', 'no boundary', type('')), 400, 'invalid_request');
    const headerless = '--xx\r\n\r\ncontent\r\n--xx--\r\n';
    const response = await post('/api/v1/scan/sync/form', headerless, type('; boundary=xx'));
    assert.ok(response.status === 400, `status ${response.status}`);
    assertNoLeak(await response.text());
  });

  test('unknown keys, routes and ids answer the same JSON shape', async () => {
    await expectRefusal(
      await fetch(`${service.url}/api/v1/test`, { headers: authHeaders('not-a-key-at-all') }),
      401,
      'unauthorized',
    );
    await expectRefusal(
      await fetch(`${service.url}/v1/scans/${'x'.repeat(65)}`, { headers: authHeaders(KEY_A) }),
      400,
      'invalid_request',
    );
    await expectRefusal(
      await fetch(`${service.url}/v1/scans?limit=lots`, { headers: authHeaders(KEY_A) }),
      400,
      'invalid_request',
    );
    await expectRefusal(await fetch(`${service.url}/nowhere/../../etc/passwd`), 404, 'not_found');
  });
});

describe('hostile clients: per-key rate limits and job quotas', () => {
  let limited: TestService;
  let quota: TestService;
  let stalled: TestHttpServer;
  const releaseStalled: (() => void)[] = [];

  before(async () => {
    // Answers only when the test lets it: keeps jobs unfinished for the quota.
    stalled = await startHttpServer((_request, response) => {
      releaseStalled.push(() => response.writeHead(200, { 'content-length': '5' }).end('hello'));
    });
    limited = await startTestService({ rateLimit: { requestsPerMinute: 5 } });
    quota = await startTestService({
      rateLimit: { maxConcurrentJobsPerKey: 2 },
      network: { allowCidrs: ['127.0.0.0/8'] },
    });
  });
  after(async () => {
    for (const release of releaseStalled) release();
    await limited.stop();
    await quota.stop();
    await stalled.close();
  });

  test('the 6th request of a key in a minute → 429 with Retry-After; another key is not affected', async () => {
    for (let index = 0; index < 5; index++) {
      assert.equal((await fetch(`${limited.url}/api/v1/test`, { headers: authHeaders(KEY_A) })).status, 204);
    }
    const refused = await fetch(`${limited.url}/api/v1/test`, { headers: authHeaders(KEY_A, 'x-api-key') });
    const retryAfter = Number(refused.headers.get('retry-after'));
    await expectRefusal(refused, 429, 'rate_limited');
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
    assert.equal((await fetch(`${limited.url}/api/v1/test`, { headers: authHeaders(KEY_B) })).status, 204);
    // Liveness is not behind the key's limit.
    assert.equal((await fetch(`${limited.url}/healthz`)).status, 200);
  });

  test('more unfinished jobs than MAX_CONCURRENT_JOBS_PER_KEY → 429 quota_exceeded with Retry-After', async () => {
    const submit = () =>
      fetch(`${quota.url}/v1/scans/url`, {
        method: 'POST',
        headers: { ...authHeaders(KEY_B), 'content-type': 'application/json' },
        body: JSON.stringify({ url: `${stalled.origin}/slow.bin` }),
      });
    const first = await submit();
    const second = await submit();
    assert.deepEqual([first.status, second.status], [202, 202]);
    const refused = await submit();
    const retryAfter = Number(refused.headers.get('retry-after'));
    await expectRefusal(refused, 429, 'quota_exceeded');
    assert.ok(retryAfter >= 1, `retry-after ${refused.headers.get('retry-after')}`);

    await waitFor(async () => (releaseStalled.length === 2 ? true : undefined));
    for (const release of releaseStalled.splice(0)) release();
    const { id } = (await first.json()) as { id: string };
    await waitFor(async () => {
      const response = await fetch(`${quota.url}/v1/scans/${id}`, { headers: authHeaders(KEY_B) });
      return ((await response.json()) as { status: string }).status === 'pending' ? undefined : true;
    });
    // A finished job frees its slot (the second one may still be finishing).
    await waitFor(async () => {
      const again = await submit();
      return again.status === 202 ? true : undefined;
    });
  });
});

describe('hostile clients: parallel uploads cannot slip past the job quota', () => {
  let service: TestService;
  let stalled: TestHttpServer;
  const releaseStalled: (() => void)[] = [];

  before(async () => {
    stalled = await startHttpServer((_request, response) => {
      releaseStalled.push(() => response.writeHead(200, { 'content-length': '5' }).end('hello'));
    });
    // One worker, held by a stalled download: every upload job stays queued, so the count is exact.
    service = await startTestService({
      rateLimit: { maxConcurrentJobsPerKey: 3 },
      network: { allowCidrs: ['127.0.0.0/8'] },
      // Every upload staged as a file, so what was staged for the refused ones can be counted.
      jobs: { workerConcurrency: 1, inlineUploadMaxBytes: 0 },
    });
  });
  after(async () => {
    for (const release of releaseStalled) release();
    await service.stop();
    await stalled.close();
  });

  test('1 job running + 10 parallel uploads with a quota of 3 → exactly 2 accepted, nothing staged for the rest', async () => {
    const blocker = await fetch(`${service.url}/v1/scans/url`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${stalled.origin}/slow.bin` }),
    });
    assert.equal(blocker.status, 202);
    await waitFor(async () => (releaseStalled.length === 1 ? true : undefined));
    const uploads = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        fetch(`${service.url}/v1/scans/file`, {
          method: 'POST',
          headers: authHeaders(KEY_A),
          body: form((data) => data.set('file', new Blob([`upload ${index}`]), `${index}.txt`)),
        }),
      ),
    );
    const statuses = uploads.map((response) => response.status).sort();
    assert.deepEqual(statuses, [202, 202, 429, 429, 429, 429, 429, 429, 429, 429]);
    for (const refused of uploads.filter((response) => response.status === 429))
      await expectRefusal(refused, 429, 'quota_exceeded');
    const staged = await readdir(path.join(service.dataDir, 'uploads'));
    assert.equal(staged.length, 2, `staged: ${staged.join(', ')}`);
  });
});

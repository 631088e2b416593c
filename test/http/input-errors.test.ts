import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { authHeaders, KEY_A, startTestService, type TestService } from '../support/service.ts';

const MAX = 64 * 1024;

describe('bad input gets a JSON error with a stable code', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService({ limits: { maxFileSizeBytes: MAX } });
  });
  after(() => service.stop());

  const postJson = (path: string, body: string) =>
    fetch(`${service.url}${path}`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
      body,
    });

  const expectError = async (response: Response, status: number, code: string) => {
    assert.equal(response.status, status);
    const body = (await response.json()) as { code: string; message: string };
    assert.equal(body.code, code);
    assert.ok(body.message.length > 0);
    assert.doesNotMatch(JSON.stringify(body), /\/work\/|at .*\.ts:\d+/, 'no paths or stack traces');
  };

  test('malformed JSON → 400 invalid_request', async () => {
    await expectError(
      await postJson('/api/v1/scan/async/download', '{"download_url": '),
      400,
      'invalid_request',
    );
  });

  test('schema violations → 400 invalid_request', async () => {
    await expectError(
      await postJson('/api/v1/scan/async/download', '{"trace_id":"x"}'),
      400,
      'invalid_request',
    );
    await expectError(
      await postJson(
        '/api/v1/scan/async/download',
        '{"download_url":"http://a.example/","trace_id":"x","extra":1}',
      ),
      400,
      'invalid_request',
    );
  });

  test('missing trace_id without callback_url → 400', async () => {
    await expectError(
      await postJson('/api/v1/scan/async/download', '{"download_url":"http://a.example/f"}'),
      400,
      'invalid_request',
    );
  });

  test('custom_data over 16 KB of UTF-8 → 400 (multibyte counted as bytes)', async () => {
    const body = JSON.stringify({
      download_url: 'http://a.example/f',
      trace_id: 'cd',
      custom_data: 'é'.repeat(8193),
    });
    await expectError(await postJson('/api/v1/scan/async/download', body), 400, 'invalid_request');
    const fits = JSON.stringify({
      download_url: 'http://a.example/f',
      trace_id: 'cd-ok',
      custom_data: 'é'.repeat(8192),
    });
    assert.equal((await postJson('/api/v1/scan/async/download', fits)).status, 201);
  });

  test('a non-http(s) URL → 400', async () => {
    for (const url of [
      'file:///etc/passwd',
      'gopher://127.0.0.1:6379/_INFO',
      'ftp://example.com/x',
      'not a url',
    ])
      await expectError(
        await postJson('/api/v1/scan/async/download', JSON.stringify({ download_url: url, trace_id: 't' })),
        400,
        'invalid_request',
      );
    await expectError(
      await postJson(
        '/api/v1/scan/async/download',
        JSON.stringify({ download_url: 'http://a.example/', callback_url: 'javascript:alert(1)' }),
      ),
      400,
      'invalid_request',
    );
  });

  test('a callback to a refused address is refused at submit → 400 blocked_destination', async () => {
    for (const callback of [
      'http://169.254.169.254/latest/meta-data/',
      'http://2130706433/',
      'http://[::1]/hook',
      'http://10.0.0.1/',
    ])
      await expectError(
        await postJson(
          '/api/v1/scan/async/download',
          JSON.stringify({ download_url: 'http://a.example/f', callback_url: callback }),
        ),
        400,
        'blocked_destination',
      );
  });

  test('unsupported content type → 415', async () => {
    const response = await fetch(`${service.url}/api/v1/scan/async/download`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'text/plain' },
      body: 'hello',
    });
    await expectError(response, 415, 'unsupported_media_type');
    const notMultipart = await fetch(`${service.url}/api/v1/scans/initiate`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
      body: '{}',
    });
    await expectError(notMultipart, 415, 'unsupported_media_type');
  });

  test('an empty upload → 400 empty_file', async () => {
    const form = new FormData();
    form.set('file', new Blob([]), 'empty.txt');
    await expectError(
      await fetch(`${service.url}/api/v1/scans/initiate`, {
        method: 'POST',
        headers: authHeaders(KEY_A),
        body: form,
      }),
      400,
      'empty_file',
    );
  });

  test('an upload over the limit → 413, streamed and stopped, partial file removed', async () => {
    const form = new FormData();
    form.set('file', new Blob([randomBytes(MAX + 1)]), 'big.bin');
    await expectError(
      await fetch(`${service.url}/api/v1/scans/initiate`, {
        method: 'POST',
        headers: authHeaders(KEY_A),
        body: form,
      }),
      413,
      'payload_too_large',
    );
    const staged = await readdir(path.join(service.dataDir, 'uploads')).catch(() => []);
    assert.deepEqual(staged, []);

    const exact = new FormData();
    exact.set('file', new Blob([randomBytes(MAX)]), 'exact.bin');
    assert.equal(
      (
        await fetch(`${service.url}/api/v1/scans/initiate`, {
          method: 'POST',
          headers: authHeaders(KEY_A),
          body: exact,
        })
      ).status,
      200,
    );
  });

  test('a huge chunked upload is cut off at the limit without reading it all', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${service.url}/api/v1/scan/sync/binary`, {
        method: 'POST',
        headers: {
          ...authHeaders(KEY_A),
          'content-type': 'application/octet-stream',
          'transfer-encoding': 'chunked',
        },
      });
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      const chunk = randomBytes(16 * 1024);
      let sent = 0;
      const pump = () => {
        // 100× the limit: the server must answer long before this is all sent.
        while (sent < MAX * 100 && request.write(chunk)) sent += chunk.length;
        if (sent < MAX * 100) request.once('drain', pump);
        else request.end();
      };
      pump();
    });
    assert.equal(status, 413);
  });

  test('unknown route → 404 JSON', async () => {
    await expectError(await fetch(`${service.url}/nope`, { headers: authHeaders(KEY_A) }), 404, 'not_found');
  });
});

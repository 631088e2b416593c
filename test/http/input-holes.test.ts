/**
 * Holes found by trying the API as an attacker would: each answer must be a refusal with a stable
 * code (or a view without internals), never a 500, a silent rewrite or a leaked secret.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { type RunningService, startService } from '../../src/cli/service.ts';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { redactedUrl } from '../../src/http/request-log.ts';
import { assertNoLeak, expectRefusal } from '../hardening/error-body.ts';
import { authHeaders, KEY_A, submitNativeUpload, testConfig, waitFor } from '../support/service.ts';

let service: RunningService;
let url: string;
let dataDir: string;
const logLines: string[] = [];

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'scangate-holes-'));
  const logStream = new PassThrough();
  logStream.on('data', (chunk: Buffer) => logLines.push(...chunk.toString().split('\n').filter(Boolean)));
  const config = testConfig(dataDir, { network: { allowCidrs: ['127.0.0.0/8'] } });
  service = await startService(config, pino({ level: 'info' }, logStream));
  url = service.url!;
});

after(async () => {
  await service.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const json = (body: unknown) => ({
  method: 'POST',
  headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

/** Sends raw bytes and reads until the server closes: what Node's parser answers. */
async function rawExchange(request: string): Promise<string> {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(request);
  let answer = '';
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString('latin1');
  });
  await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 5000))]);
  socket.destroy();
  return answer;
}

function parserAnswer(answer: string): { status: number; body: { code: string; message: string } } {
  const [head, body = ''] = answer.split('\r\n\r\n');
  assertNoLeak(answer);
  return { status: Number(head?.split(' ')[1]), body: JSON.parse(body) as { code: string; message: string } };
}

describe('smaller holes, each closed', () => {
  test('sync/binary with a JSON or multipart body is 415, not 500', async () => {
    await expectRefusal(
      await fetch(`${url}/api/v1/scan/sync/binary`, json({ file: 'eicar' })),
      415,
      'unsupported_media_type',
    );
    const form = new FormData();
    form.set('file', new Blob([eicarBytes()]), 'eicar.com');
    await expectRefusal(
      await fetch(`${url}/api/v1/scan/sync/binary`, {
        method: 'POST',
        headers: authHeaders(KEY_A),
        body: form,
      }),
      415,
      'unsupported_media_type',
    );
  });

  test('a __proto__ field before the file is 400 on the sync form as on the other upload routes', async () => {
    for (const route of ['/api/v1/scan/sync/form', '/v1/scans/file', '/api/v1/scans/initiate']) {
      const form = new FormData();
      form.set('__proto__', 'x');
      form.set('file', new Blob([eicarBytes()]), 'eicar.com');
      const response = await fetch(`${url}${route}`, {
        method: 'POST',
        headers: authHeaders(KEY_A),
        body: form,
      });
      await expectRefusal(response, 400, 'invalid_request');
    }
  });

  test("a callback_url aimed at scangate's own port is refused at submit", async () => {
    const { port } = new URL(url);
    const response = await fetch(
      `${url}/v1/scans/url`,
      json({ url: 'http://127.0.0.1:9/file', callback_url: `http://127.0.0.1:${port}/api/v1/test` }),
    );
    await expectRefusal(response, 400, 'blocked_destination');
  });

  test('an upload filename over 1,024 bytes is refused; one of 1,024 is kept', async () => {
    const long = await submitNativeUpload(url, Buffer.from('hello'), { filename: 'a'.repeat(80 * 1024) });
    await expectRefusal(long, 400, 'invalid_request');
    const fits = await submitNativeUpload(url, Buffer.from('hello'), { filename: `${'é'.repeat(511)}.t` });
    assert.equal(fits.status, 202);
  });

  test('JSON fields of the wrong type are refused, not coerced', async () => {
    const bodies = [
      ['/api/v1/scan/async/download', { download_url: 'http://127.0.0.1:9/f', trace_id: 12345 }],
      [
        '/api/v1/scan/async/download',
        { download_url: 'http://127.0.0.1:9/f', trace_id: 't1', custom_data: true },
      ],
      ['/api/v1/scan/async/download', { download_url: ['http://127.0.0.1:9/f'], trace_id: 't2' }],
      ['/v1/scans/url', { url: ['http://127.0.0.1:9/f'] }],
      ['/v1/scans/url', { url: 'http://127.0.0.1:9/f', trace_id: 7 }],
    ] as const;
    for (const [route, body] of bodies) {
      await expectRefusal(await fetch(`${url}${route}`, json(body)), 400, 'invalid_request');
    }
    // Query strings still get their numbers: they are text by nature.
    assert.equal((await fetch(`${url}/v1/scans?limit=5`, { headers: authHeaders(KEY_A) })).status, 200);
  });

  test('a lone UTF-16 surrogate in trace_id is refused, so two ids never collide', async () => {
    const raw = '{"download_url":"http://127.0.0.1:9/f","trace_id":"id-\\ud800"}';
    const refusal = await expectRefusal(
      await fetch(`${url}/api/v1/scan/async/download`, json(raw)),
      400,
      'invalid_request',
    );
    assert.match(refusal.message, /surrogate/);
    // A real astral character (a surrogate pair) is fine.
    const pair = await fetch(
      `${url}/api/v1/scan/async/download`,
      json({ download_url: 'http://127.0.0.1:9/f', trace_id: 'id-😀' }),
    );
    assert.equal(pair.status, 201);
  });

  test("Node's HTTP parser refusals answer with a stable code and close", async () => {
    const both = parserAnswer(
      await rawExchange(
        'POST /api/v1/scan/sync/binary HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      ),
    );
    assert.equal(both.status, 400);
    assert.equal(both.body.code, 'invalid_request');
    const framing = parserAnswer(
      await rawExchange(
        'POST /v1/scans/url HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n',
      ),
    );
    assert.equal(framing.status, 400);
    assert.equal(framing.body.code, 'invalid_request');
    const big = parserAnswer(
      await rawExchange(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(17 * 1024)}\r\n\r\n`),
    );
    assert.equal(big.status, 431);
    assert.equal(big.body.code, 'headers_too_large');
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  });

  test('/readyz shows no socket path or error text without a key; with one it shows the details', async () => {
    const anonymous = await (await fetch(`${url}/readyz`)).text();
    assert.doesNotMatch(anonymous, /\.sock|clamd\/|\/tmp\//);
    assert.equal((JSON.parse(anonymous) as { engine: { addresses?: unknown } }).engine.addresses, undefined);
    const detailed = await waitFor(async () => {
      const body = (await (await fetch(`${url}/readyz`, { headers: authHeaders(KEY_A) })).json()) as {
        engine: { addresses: { address: string }[] };
        formats: { status: string; unsupported?: string[] };
      };
      return body.formats.status === 'pending' ? undefined : body;
    });
    assert.match(detailed.engine.addresses[0]?.address ?? '', /clamd\.sock$/);
    assert.ok(detailed.formats.unsupported?.includes('RAR'));
  });

  test('an API key sent as a query parameter is not written to the request log', async () => {
    await fetch(`${url}/api/v1/test?api_key=${KEY_A}&trace_id=visible`);
    await fetch(`${url}/v1/scans?token=${KEY_A}&limit=1`, { headers: authHeaders(KEY_A) });
    const requestLines = logLines.filter(
      (line) => line.includes('/api/v1/test?') || line.includes('/v1/scans?'),
    );
    assert.ok(requestLines.length > 0, 'the requests were logged');
    for (const line of logLines) assert.ok(!line.includes(KEY_A), `key leaked to the log: ${line}`);
    assert.ok(requestLines.some((line) => line.includes('api_key=[redacted]&trace_id=visible')));
  });

  test('redactedUrl keeps harmless parameters and hides secret-looking ones', () => {
    assert.equal(redactedUrl('/a?x=1'), '/a?x=1');
    assert.equal(
      redactedUrl('/a?apiKey=s&X-Amz-Signature=s2&access_token=s3&limit=2'),
      '/a?apiKey=[redacted]&X-Amz-Signature=[redacted]&access_token=[redacted]&limit=2',
    );
    assert.equal(redactedUrl('/plain'), '/plain');
  });
});

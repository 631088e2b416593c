import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { verifyCallbackSignature } from 'scangate/client';
import { verifyAttachmentAv } from '../../src/attachmentav-signing.ts';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import {
  authHeaders,
  KEY_A,
  KEY_B,
  startTestService,
  type TestService,
  waitFor,
} from '../support/service.ts';

/** A small but real PDF: file-type knows it by its `%PDF-` magic, whatever the name says. */
const pdf = Buffer.from(
  '%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n' +
    'trailer << /Root 1 0 R >>\n%%EOF\n',
);
const gzip = gzipSync(Buffer.from('scangate '.repeat(200)));

interface Received {
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface AttachmentAvResult {
  status: string;
  finding?: string;
  size?: number;
  realfiletype?: string;
}

describe('attachmentAV dialect over real HTTP with a real clamd', () => {
  let service: TestService;
  let receiver: TestHttpServer;
  const received: Received[] = [];

  before(async () => {
    receiver = await startHttpServer((request, response) => {
      if (request.method === 'GET') {
        const body =
          request.url === '/report.bin' ? pdf : request.url === '/eicar.txt' ? eicarBytes() : undefined;
        if (!body) return response.writeHead(404).end();
        return response.writeHead(200, { 'content-length': body.length }).end(body);
      }
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          url: request.url ?? '',
          headers: request.headers,
          body: Buffer.concat(chunks).toString(),
        });
        // The receiver at /gone asks the sender to stop: the callback fails for good at once.
        response.writeHead(request.url === '/gone' ? 410 : 204).end();
      });
    });
    service = await startTestService({ network: { allowCidrs: ['127.0.0.0/8'] } });
  });

  after(async () => {
    await service.stop();
    await receiver.close();
  });

  const post = (path: string, body: unknown, key = KEY_A) =>
    fetch(`${service.url}${path}`, {
      method: 'POST',
      headers: { ...authHeaders(key), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const binary = (path: string, bytes: Buffer, type = 'application/octet-stream') =>
    fetch(`${service.url}${path}`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A, 'x-api-key'), 'content-type': type },
      body: bytes,
    });

  test('sync/binary answers the verdict with realfiletype from the content, as exact application/json', async () => {
    const response = await binary('/v1/scan/sync/binary', pdf);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.deepEqual(await response.json(), { status: 'clean', size: pdf.length, realfiletype: 'pdf' });

    const infected = await binary('/v1/scan/sync/binary', eicarBytes());
    const body = (await infected.json()) as AttachmentAvResult;
    assert.equal(body.status, 'infected');
    assert.match(body.finding!, /^Eicar/);
    assert.equal(body.realfiletype, 'txt', 'text is told from the text: the type the content policy judges');
  });

  test('a host configured with a trailing slash (//v1/…) works', async () => {
    const response = await binary('//v1/scan/sync/binary', gzip);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'clean', size: gzip.length, realfiletype: 'gz' });
    const whoami = await fetch(`${service.url}//v1/whoami`, { headers: authHeaders(KEY_A) });
    assert.deepEqual(await whoami.json(), { tenantId: 'tenant-a' });
  });

  test('sync/binary refuses a JSON body with unsupported_media_type', async () => {
    const response = await binary('/v1/scan/sync/binary', Buffer.from('{"a":1}'), 'application/json');
    assert.equal(response.status, 415);
    assert.equal(((await response.json()) as { code: string }).code, 'unsupported_media_type');
  });

  test('sync/form and sync/download answer like sync/binary', async () => {
    const form = new FormData();
    form.set('file', new Blob([pdf]), 'innocent.txt');
    const formResponse = await fetch(`${service.url}/v1/scan/sync/form`, {
      method: 'POST',
      headers: authHeaders(KEY_A),
      body: form,
    });
    assert.equal(formResponse.status, 200);
    assert.deepEqual(await formResponse.json(), { status: 'clean', size: pdf.length, realfiletype: 'pdf' });

    const download = await post('/v1/scan/sync/download', { download_url: `${receiver.origin}/report.bin` });
    assert.deepEqual(await download.json(), { status: 'clean', size: pdf.length, realfiletype: 'pdf' });
  });

  test('async/download with trace_id: 201, absolute Location under /v1, then the result', async () => {
    const traceId = randomUUID();
    const submitted = await post('/v1/scan/async/download', {
      download_url: `${receiver.origin}/report.bin`,
      trace_id: traceId,
    });
    assert.equal(submitted.status, 201);
    const location = submitted.headers.get('location');
    assert.equal(location, `${service.url}/v1/scan/async/result?trace_id=${traceId}`);
    const result = await waitFor(async () => {
      const polled = await fetch(location!, { headers: authHeaders(KEY_A) });
      return polled.status === 200 ? ((await polled.json()) as AttachmentAvResult) : undefined;
    });
    assert.deepEqual(result, { status: 'clean', size: pdf.length, realfiletype: 'pdf' });
    const otherTenant = await fetch(location!, { headers: authHeaders(KEY_B) });
    assert.equal(otherTenant.status, 404);
  });

  test('callbacks are RSA-signed over {timestamp}.{tenantId}.{callback_url}.{body} with the published key', async () => {
    const publicKey = await fetch(`${service.url}/v1/callback/public-key`);
    assert.equal(publicKey.status, 200, 'the public key needs no API key');
    const pem = await publicKey.text();
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----/);
    const listed = (await (await fetch(`${service.url}/v1/callback/public-keys`)).json()) as {
      keys: { id: string; pem: string; current: boolean }[];
    };
    assert.deepEqual(
      listed.keys.map((key) => [key.pem, key.current]),
      [[pem, true]],
    );
    const { tenantId } = (await (
      await fetch(`${service.url}/v1/whoami`, { headers: authHeaders(KEY_A) })
    ).json()) as { tenantId: string };

    const callbackUrl = `${receiver.origin}/attachmentav-hook`;
    const count = received.length;
    const submitted = await post('/v1/scan/async/download', {
      download_url: `${receiver.origin}/report.bin`,
      callback_url: callbackUrl,
      custom_data: 'ticket-7',
    });
    assert.equal(submitted.status, 204);
    const callback = await waitFor(async () =>
      received.slice(count).find((r) => r.url === '/attachmentav-hook'),
    );
    const body = JSON.parse(callback.body);
    assert.equal(body.status, 'clean');
    assert.equal(body.realfiletype, 'pdf');
    assert.equal(body.custom_data, 'ticket-7');
    assert.equal(verifyAttachmentAv([pem], callback.headers, tenantId, callbackUrl, callback.body), true);
    assert.equal(verifyAttachmentAv([pem], callback.headers, 'tenant-b', callbackUrl, callback.body), false);
    assert.equal(
      verifyAttachmentAv([pem], callback.headers, tenantId, callbackUrl, `${callback.body} `),
      false,
    );
    // The Standard Webhooks signature is there too, with the tenant's secret.
    const secret = (await (
      await fetch(`${service.url}/v1/webhook-secret`, { headers: authHeaders(KEY_A) })
    ).json()) as { secret: string };
    assert.equal(verifyCallbackSignature(secret.secret, callback.headers, callback.body), true);
  });

  test('bucketAV callbacks carry no attachmentAV signature', async () => {
    const count = received.length;
    await post('/api/v1/scan/async/download', {
      download_url: `${receiver.origin}/report.bin`,
      callback_url: `${receiver.origin}/bucketav-hook`,
    });
    const callback = await waitFor(async () => received.slice(count).find((r) => r.url === '/bucketav-hook'));
    assert.equal(callback.headers['x-signature'], undefined);
    assert.equal(JSON.parse(callback.body).realfiletype, 'pdf');
  });

  test('whoami names the key’s tenant; no key is 401', async () => {
    const b = await fetch(`${service.url}/v1/whoami`, { headers: authHeaders(KEY_B, 'x-api-key') });
    assert.deepEqual(await b.json(), { tenantId: 'tenant-b' });
    const none = await fetch(`${service.url}/v1/whoami`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('content-type'), 'application/json');
    assert.equal(((await none.json()) as { code: string }).code, 'unauthorized');
  });

  test('callback failures list what failed for good, to this tenant only', async () => {
    const callbackUrl = `${receiver.origin}/gone`;
    const count = received.length;
    await post('/v1/scan/async/download', {
      download_url: `${receiver.origin}/report.bin`,
      callback_url: callbackUrl,
    });
    await waitFor(async () => received.slice(count).find((r) => r.url === '/gone'));
    const query = `callback_url=${encodeURIComponent(callbackUrl)}`;
    const failures = await waitFor(async () => {
      const response = await fetch(`${service.url}/v1/callback/failures?${query}`, {
        headers: authHeaders(KEY_A),
      });
      const page = (await response.json()) as { failures: Record<string, string>[] };
      return page.failures.length > 0 ? page : undefined;
    });
    const [failure] = failures.failures;
    assert.equal(failure!.callback_url, callbackUrl);
    assert.equal(failure!.download_url, `${receiver.origin}/report.bin`);
    assert.ok(!Number.isNaN(Date.parse(failure!.time!)));
    assert.equal(JSON.parse(failure!.error_json!).status_code, 410);

    const otherTenant = await fetch(`${service.url}/v1/callback/failures?${query}`, {
      headers: authHeaders(KEY_B),
    });
    assert.deepEqual(await otherTenant.json(), { failures: [] });
    const missing = await fetch(`${service.url}/v1/callback/failures`, { headers: authHeaders(KEY_A) });
    assert.equal(missing.status, 400);
    assert.equal(((await missing.json()) as { code: string }).code, 'invalid_request');
    const badCursor = await fetch(`${service.url}/v1/callback/failures?${query}&cursor=abc`, {
      headers: authHeaders(KEY_A),
    });
    assert.equal(((await badCursor.json()) as { code: string }).code, 'invalid_request');
  });

  test('an unknown path of the dialect is 404 not_found naming it; native /v1/scans is untouched', async () => {
    const unknown = await post('/v1/scan/sync/unknown', {});
    assert.equal(unknown.status, 404);
    const body = (await unknown.json()) as { code: string; message: string };
    assert.equal(body.code, 'not_found');
    assert.match(body.message, /\/v1\/scan\/sync\/unknown/);

    const form = new FormData();
    form.set('file', new Blob([pdf]), 'report.pdf');
    const native = await fetch(`${service.url}/v1/scans/file`, {
      method: 'POST',
      headers: authHeaders(KEY_A),
      body: form,
    });
    assert.equal(native.status, 202);
    const { id } = (await native.json()) as { id: string };
    const scan = await waitFor(async () => {
      const polled = (await (
        await fetch(`${service.url}/v1/scans/${id}`, { headers: authHeaders(KEY_A) })
      ).json()) as { status: string; file_type: unknown };
      return polled.status === 'pending' ? undefined : polled;
    });
    assert.deepEqual(scan.file_type, { ext: 'pdf', mime: 'application/pdf' });
  });
});

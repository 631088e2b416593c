import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeSelfSignedCertificate } from '../support/certificates.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import { authHeaders, KEY_A, startTestService, type TestService, waitFor } from '../support/service.ts';

const clean = randomBytes(2048);

interface ReceivedCallback {
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A loopback receiver for callbacks and a file server, in one. */
async function startReceiver(): Promise<{ server: TestHttpServer; callbacks: ReceivedCallback[] }> {
  const callbacks: ReceivedCallback[] = [];
  const server = await startHttpServer((request, response) => {
    if (request.method === 'GET' && request.url === '/clean.bin') {
      response.writeHead(200, { 'content-length': clean.length }).end(clean);
      return;
    }
    if (request.method === 'POST') {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        callbacks.push({ headers: request.headers, body: Buffer.concat(chunks).toString() });
        response.writeHead(204).end();
      });
      return;
    }
    response.writeHead(404).end();
  });
  return { server, callbacks };
}

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { ...authHeaders(KEY_A), 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('the seeds, character by character (plain HTTP, Location from Host)', () => {
  let service: TestService;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const savedEnv = { ...process.env };

  before(async () => {
    // No S3 credentials anywhere, and never a packet to the cloud metadata address.
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE', 'AWS_SESSION_TOKEN'])
      delete process.env[name];
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
    receiver = await startReceiver();
    service = await startTestService({ network: { allowCidrs: ['127.0.0.0/8'] } });
  });

  after(async () => {
    await service.stop();
    await receiver.server.close();
    process.env = savedEnv;
  });

  test('Location is absolute, from the Host the client used, and X-Forwarded-* is ignored when not trusted', async () => {
    const traceId = randomUUID();
    const response = await postJson(
      `${service.url}/api/v1/scan/async/download`,
      { download_url: `${receiver.server.origin}/clean.bin`, trace_id: traceId },
      { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
    );
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('content-length'), '0');
    assert.equal(
      response.headers.get('location'),
      `${service.url}/api/v1/scan/async/result?trace_id=${traceId}`,
    );
    const result = await waitFor(async () => {
      const polled = await fetch(response.headers.get('location')!, { headers: authHeaders(KEY_A) });
      return polled.status === 200 ? polled : undefined;
    });
    assert.equal(result.headers.get('content-type'), 'application/json');
    const text = await result.text();
    assert.equal(text, `{"status":"clean","size":${clean.length}}`);
    assert.equal(result.headers.get('content-length'), String(Buffer.byteLength(text)));
  });

  test('vendor errors are application/json exactly too; the native API keeps its charset', async () => {
    const refused = await fetch(`${service.url}/api/v1/scan/async/result?trace_id=x`);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('content-type'), 'application/json');
    const missing = await fetch(`${service.url}/api/v1/scan/async/result?trace_id=${randomUUID()}`, {
      headers: authHeaders(KEY_A),
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('content-type'), 'application/json');
    const native = await fetch(`${service.url}/v1/scans?limit=1`, { headers: authHeaders(KEY_A) });
    assert.match(native.headers.get('content-type') ?? '', /^application\/json; charset=utf-8$/);
  });

  test('callback_headers naming Content-Type or Content-Length are ignored, not refused: our values win', async () => {
    const before = receiver.callbacks.length;
    const response = await postJson(`${service.url}/api/v1/scan/async/download`, {
      download_url: `${receiver.server.origin}/clean.bin`,
      callback_url: `${receiver.server.origin}/callback`,
      callback_headers: { 'Content-Type': 'text/plain', 'Content-Length': '1', 'X-Token': 'abc' },
    });
    assert.equal(response.status, 204);
    const callback = await waitFor(async () => receiver.callbacks[before]);
    assert.equal(callback.headers['content-type'], 'application/json');
    assert.equal(callback.headers['content-length'], String(Buffer.byteLength(callback.body)));
    assert.equal(callback.headers['x-token'], 'abc');
    assert.equal(JSON.parse(callback.body).size, clean.length);
  });

  test('a forbidden callback header is still refused with invalid_request', async () => {
    const response = await postJson(`${service.url}/api/v1/scan/async/download`, {
      download_url: `${receiver.server.origin}/clean.bin`,
      callback_url: `${receiver.server.origin}/callback`,
      callback_headers: { 'Transfer-Encoding': 'chunked' },
    });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { code: string }).code, 'invalid_request');
  });

  test('a failed job reports no invented size, the same in the callback and when polled', async () => {
    const traceId = randomUUID();
    const before = receiver.callbacks.length;
    const response = await postJson(`${service.url}/api/v1/scan/async/download`, {
      download_url: `${receiver.server.origin}/missing.bin`,
      callback_url: `${receiver.server.origin}/callback`,
      trace_id: traceId,
    });
    assert.equal(response.status, 204);
    const callback = JSON.parse((await waitFor(async () => receiver.callbacks[before])).body);
    assert.equal(callback.status, 'no');
    assert.equal('size' in callback, false);
    const polled = await fetch(`${service.url}/api/v1/scan/async/result?trace_id=${traceId}`, {
      headers: authHeaders(KEY_A),
    });
    assert.deepEqual(await polled.json(), { status: 'no' });
  });

  for (const route of ['/api/v1/scan/sync/s3', '/api/v1/scan/async/s3']) {
    test(`${route} without S3 credentials is 503 s3_not_configured, naming no SDK class`, async () => {
      const response = await postJson(`${service.url}${route}`, {
        bucket: 'some-bucket',
        key: 'file.pdf',
        ...(route.includes('async') ? { trace_id: randomUUID() } : {}),
      });
      assert.equal(response.status, 503);
      const body = (await response.json()) as { code: string; message: string };
      assert.equal(body.code, 's3_not_configured');
      assert.doesNotMatch(body.message, /CredentialsProviderError/);
      assert.match(body.message, /S3_ACCESS_KEY_ID/);
    });
  }
});

describe('Location behind a trusted proxy and with PUBLIC_URL', () => {
  let proxied: TestService;
  let configured: TestService;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  before(async () => {
    receiver = await startReceiver();
    proxied = await startTestService({ http: { trustProxy: true } });
    configured = await startTestService({ http: { publicUrl: 'https://scan.example.com/gate/' } });
  });

  after(async () => {
    await Promise.all([proxied.stop(), configured.stop()]);
    await receiver.server.close();
  });

  const submit = (service: TestService, traceId: string, headers: Record<string, string> = {}) =>
    postJson(
      `${service.url}/api/v1/scan/async/download`,
      { download_url: `${receiver.server.origin}/clean.bin`, trace_id: traceId },
      headers,
    );

  test('HTTP_TRUST_PROXY takes scheme and host from X-Forwarded-Proto and X-Forwarded-Host', async () => {
    const traceId = randomUUID();
    const response = await submit(proxied, traceId, {
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'scan.example.org',
    });
    assert.equal(response.status, 201);
    assert.equal(
      response.headers.get('location'),
      `https://scan.example.org/api/v1/scan/async/result?trace_id=${traceId}`,
    );
  });

  test('a forwarded host that is not a host name is refused with invalid_request', async () => {
    const response = await submit(proxied, randomUUID(), { 'x-forwarded-host': 'evil.example/path?x' });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { code: string }).code, 'invalid_request');
  });

  test('PUBLIC_URL wins over the request, with its path prefix kept', async () => {
    const traceId = randomUUID();
    const response = await submit(configured, traceId);
    assert.equal(
      response.headers.get('location'),
      `https://scan.example.com/gate/api/v1/scan/async/result?trace_id=${traceId}`,
    );
  });
});

describe('TLS with HTTP/2 and HTTP/1.1 by ALPN', () => {
  let dir: string;
  let service: TestService;
  let cert: Buffer;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scangate-tls-'));
    const { keyFile, certFile } = writeSelfSignedCertificate(dir, {
      commonName: '127.0.0.1',
      subjectAltName: 'IP:127.0.0.1',
    });
    cert = readFileSync(certFile);
    service = await startTestService({
      http: { tlsCertFile: certFile, tlsKeyFile: keyFile },
    });
  });

  after(async () => {
    await service.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the service says https, and an h2 client gets the seed answers over HTTP/2', async () => {
    assert.match(service.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const session = http2.connect(service.url, { ca: cert });
    try {
      assert.equal(
        await new Promise((resolve) => session.once('connect', () => resolve(session.alpnProtocol))),
        'h2',
      );
      const answer = (headers: http2.OutgoingHttpHeaders, body?: string) =>
        new Promise<{ headers: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
          const stream = session.request(headers);
          let text = '';
          stream.setEncoding('utf8');
          stream.on('data', (chunk: string) => {
            text += chunk;
          });
          let responseHeaders: http2.IncomingHttpHeaders = {};
          stream.on('response', (received) => {
            responseHeaders = received;
          });
          stream.on('end', () => resolve({ headers: responseHeaders, body: text }));
          stream.on('error', reject);
          stream.end(body);
        });
      const tested = await answer({
        ':method': 'GET',
        ':path': '/api/v1/test',
        authorization: `Bearer ${KEY_A}`,
      });
      assert.equal(tested.headers[':status'], 204);
      const traceId = randomUUID();
      const submitted = await answer(
        {
          ':method': 'POST',
          ':path': '/api/v1/scan/async/download',
          authorization: `Bearer ${KEY_A}`,
          'content-type': 'application/json',
        },
        JSON.stringify({ download_url: 'https://download.example.com/file.pdf', trace_id: traceId }),
      );
      assert.equal(submitted.headers[':status'], 201);
      assert.equal(submitted.headers.location, `${service.url}/api/v1/scan/async/result?trace_id=${traceId}`);
    } finally {
      session.close();
    }
  });

  test('an HTTP/1.1-only client is served on the same port', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const request = https.request(
        `${service.url}/api/v1/test`,
        {
          ca: cert,
          headers: authHeaders(KEY_A),
          agent: new https.Agent({ ALPNProtocols: ['http/1.1'], ca: cert }),
        },
        (response) => {
          response.resume();
          assert.equal(response.httpVersion, '1.1');
          resolve(response.statusCode);
        },
      );
      request.on('error', reject);
      request.end();
    });
    assert.equal(status, 204);
  });

  test('a malformed certificate file stops the start with invalid_tls_certificate', async () => {
    await writeFile(
      path.join(dir, 'broken.pem'),
      '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n',
    );
    await assert.rejects(
      startTestService({
        http: { tlsCertFile: path.join(dir, 'broken.pem'), tlsKeyFile: path.join(dir, 'key.pem') },
      }),
      (error: { code?: string; message: string }) =>
        error.code === 'invalid_tls_certificate' && /broken\.pem/.test(error.message),
    );
  });
});

import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { type DeliveryAttemptOptions, deliverCallback } from '../../src/delivery/deliverer.ts';
import { generateWebhookSecret } from '../../src/webhook-signing.ts';
import { readBody, startHttpServer, type TestHttpServer } from '../support/http-servers.ts';

const SECRET = generateWebhookSecret();
const OPTIONS: DeliveryAttemptOptions = {
  timeoutMs: 2_000,
  connectTimeoutMs: 1_000,
  allowCidrs: ['127.0.0.1/32'],
};

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('deliverCallback against a real receiver', () => {
  let receiver: TestHttpServer;
  let elsewhere: TestHttpServer;
  let answer: (response: http.ServerResponse) => void = (response) => response.writeHead(204).end();
  const received: Received[] = [];

  before(async () => {
    receiver = await startHttpServer(async (request, response) => {
      received.push({ headers: request.headers, body: await readBody(request) });
      answer(response);
    });
    elsewhere = await startHttpServer((_request, response) => response.writeHead(200).end());
  });
  after(async () => {
    await receiver.close();
    await elsewhere.close();
  });

  const delivery = (body = '{"status":"clean"}') => ({
    id: 'msg_job-1',
    url: `${receiver.origin}/hook?x=1`,
    headers: { Authorization: 'Bearer client-token', 'X-Custom': 'yes' },
    body,
  });

  test('2xx is delivered; the receiver gets our headers, its own headers and a valid signature', async () => {
    received.length = 0;
    answer = (response) => response.writeHead(204).end();
    const result = await deliverCallback(delivery(), SECRET, OPTIONS);
    assert.deepEqual(result, { ok: true, final: false, statusCode: 204 });
    const [first] = received;
    assert.ok(first);
    assert.equal(first.body, '{"status":"clean"}');
    assert.equal(first.headers.host, `127.0.0.1:${receiver.port}`);
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers['content-length'], String(first.body.length));
    assert.equal(first.headers['user-agent'], 'scangate');
    assert.equal(first.headers.authorization, 'Bearer client-token');
    assert.equal(first.headers['x-custom'], 'yes');
    assert.equal(first.headers['webhook-id'], 'msg_job-1');
    const verified = new Webhook(SECRET).verify(first.body, first.headers as Record<string, string>);
    assert.deepEqual(verified, { status: 'clean' });
  });

  test('every attempt carries the same id and bytes, with its own timestamp and signature', async () => {
    received.length = 0;
    answer = (response) => response.writeHead(500).end();
    await deliverCallback(delivery(), SECRET, { ...OPTIONS, nowSeconds: 1_700_000_000 });
    await deliverCallback(delivery(), SECRET, { ...OPTIONS, nowSeconds: 1_700_000_100 });
    const [a, b] = received;
    assert.ok(a && b);
    assert.equal(a.headers['webhook-id'], b.headers['webhook-id']);
    assert.equal(a.body, b.body);
    assert.notEqual(a.headers['webhook-timestamp'], b.headers['webhook-timestamp']);
    assert.notEqual(a.headers['webhook-signature'], b.headers['webhook-signature']);
  });

  test('410 Gone stops the delivery', async () => {
    answer = (response) => response.writeHead(410).end();
    const result = await deliverCallback(delivery(), SECRET, OPTIONS);
    assert.equal(result.ok, false);
    assert.equal(result.final, true);
    assert.equal(result.statusCode, 410);
  });

  test('a 3xx is a failed attempt and its Location is never requested', async () => {
    answer = (response) => response.writeHead(301, { location: `${elsewhere.origin}/moved` }).end();
    const result = await deliverCallback(delivery(), SECRET, OPTIONS);
    assert.equal(result.ok, false);
    assert.equal(result.final, false);
    assert.equal(result.statusCode, 301);
    assert.equal(elsewhere.connections, 0);
  });

  test('5xx is retried and Retry-After is passed on', async () => {
    answer = (response) => response.writeHead(503, { 'retry-after': '30' }).end('busy');
    const result = await deliverCallback(delivery(), SECRET, OPTIONS);
    assert.deepEqual(result, {
      ok: false,
      final: false,
      statusCode: 503,
      error: 'receiver answered HTTP 503',
      retryAfterMs: 30_000,
    });
  });

  test('a receiver that does not answer fails the attempt at the timeout', async () => {
    answer = () => {};
    const result = await deliverCallback(delivery(), SECRET, { ...OPTIONS, timeoutMs: 300 });
    assert.equal(result.ok, false);
    assert.equal(result.final, false);
    assert.match(result.error ?? '', /no answer within 300 ms/);
  });

  test('stored headers are checked again at delivery; a bad one fails without connecting', async () => {
    const before = receiver.connections;
    const result = await deliverCallback(
      { ...delivery(), headers: { Host: 'evil.example' } },
      SECRET,
      OPTIONS,
    );
    assert.equal(result.final, true);
    assert.match(result.error ?? '', /Host/);
    assert.equal(receiver.connections, before);
  });

  test('a loopback receiver is refused when the allowlist does not open it', async () => {
    const before = receiver.connections;
    const result = await deliverCallback(delivery(), SECRET, { ...OPTIONS, allowCidrs: ['127.0.0.2/32'] });
    assert.equal(result.ok, false);
    assert.equal(result.final, true);
    assert.equal(receiver.connections, before);
  });
});

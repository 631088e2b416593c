import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { authHeaders, KEY_A, startTestService, type TestService } from '../support/service.ts';

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
/** Node checks its timeouts periodically, not at the exact instant: allow for that and a busy CI. */
const SLACK_MS = 3000;

interface SlowClient {
  socket: net.Socket;
  /** When the server closed it, ms after the start of the test; undefined while open. */
  closedAfterMs?: number;
  /** What the server answered before closing, if anything. */
  answer: string;
}

function openSlowClient(
  url: URL,
  firstBytes: string,
  drip: string,
  everyMs: number,
  startedAt: number,
): SlowClient {
  const socket = net.connect(Number(url.port), url.hostname);
  const client: SlowClient = { socket, answer: '' };
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    client.answer += chunk;
  });
  socket.on('error', () => {});
  socket.write(firstBytes);
  const timer = setInterval(() => socket.write(drip), everyMs);
  socket.once('close', () => {
    clearInterval(timer);
    client.closedAfterMs = performance.now() - startedAt;
  });
  return client;
}

async function allClosed(clients: SlowClient[]): Promise<void> {
  await Promise.all(
    clients.map((client) => (client.socket.closed ? undefined : once(client.socket, 'close'))),
  );
}

describe('slow clients cannot hold the server', () => {
  let service: TestService;
  let url: URL;

  before(async () => {
    service = await startTestService({
      http: { headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS },
    });
    url = new URL(service.url);
  });
  after(() => service.stop());

  test('200 half-open connections dripping headers: a normal client is served at once, they are closed', async () => {
    const startedAt = performance.now();
    const clients: SlowClient[] = [];
    for (let index = 0; index < 200; index++) {
      const head = `GET /api/v1/test HTTP/1.1\r\nHost: ${url.host}\r\n`;
      clients.push(openSlowClient(url, head, `X-Drip-${index}: a\r\n`, 250, startedAt));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = performance.now();
    const response = await fetch(`${service.url}/api/v1/test`, { headers: authHeaders(KEY_A) });
    const servedInMs = performance.now() - before;
    assert.equal(response.status, 204);
    assert.ok(servedInMs < 500, `a normal request took ${Math.round(servedInMs)} ms`);

    await allClosed(clients);
    const latest = Math.max(...clients.map((client) => client.closedAfterMs ?? Number.POSITIVE_INFINITY));
    assert.ok(
      latest < HEADERS_TIMEOUT_MS + SLACK_MS,
      `the last slow client was closed after ${Math.round(latest)} ms`,
    );
    // The server said why before closing: 408.
    assert.ok(
      clients.every((client) => client.answer.startsWith('HTTP/1.1 408')),
      clients[0]?.answer,
    );
  });

  test('a body trickled one byte at a time is cut off by the request timeout', async () => {
    const startedAt = performance.now();
    const head =
      `POST /api/v1/scan/sync/binary HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${KEY_A}\r\n` +
      'Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n';
    const trickle = openSlowClient(url, head, 'x', 100, startedAt);
    await allClosed([trickle]);
    assert.ok(
      (trickle.closedAfterMs ?? 0) < REQUEST_TIMEOUT_MS + SLACK_MS,
      `closed after ${Math.round(trickle.closedAfterMs ?? 0)} ms`,
    );
    assert.equal((await fetch(`${service.url}/healthz`)).status, 200);
  });
});

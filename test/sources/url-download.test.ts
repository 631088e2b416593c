import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { isScanGateError, type ScanGateError } from '../../src/errors.ts';
import { openUrlDownload, type UrlDownloadOptions } from '../../src/sources/url/download.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';

const KiB = 1024;

function options(overrides: Partial<UrlDownloadOptions> = {}): UrlDownloadOptions {
  return {
    maxBytes: 1024 * KiB,
    connectTimeoutMs: 2_000,
    headersTimeoutMs: 2_000,
    bodyIdleTimeoutMs: 2_000,
    downloadTimeoutMs: 10_000,
    maxRedirects: 5,
    // Loopback is opened precisely for these servers; nothing else is.
    allowCidrs: ['127.0.0.1/32', '127.0.0.2/32'],
    ...overrides,
  };
}

async function drain(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function scanGateError(code: string, retryable?: boolean) {
  return (error: unknown): boolean => {
    assert.ok(isScanGateError(error), `expected ScanGateError, got ${String(error)}`);
    assert.equal((error as ScanGateError).code, code, (error as Error).message);
    if (retryable !== undefined)
      assert.equal((error as ScanGateError).retryable, retryable, (error as Error).message);
    return true;
  };
}

/** Writes `total` bytes in 16 KiB chunks, respecting backpressure; records whether it finished. */
function writeBytes(
  response: http.ServerResponse,
  total: number,
  outcome: { finished: boolean; closed: boolean },
) {
  const chunk = Buffer.alloc(16 * KiB, 0x61);
  let sent = 0;
  response.once('close', () => {
    outcome.closed = true;
  });
  const pump = (): void => {
    while (sent < total) {
      if (response.destroyed) return;
      sent += chunk.length;
      if (!response.write(chunk)) {
        response.once('drain', pump);
        return;
      }
    }
    outcome.finished = true;
    response.end();
  };
  pump();
}

describe('openUrlDownload against real local servers', () => {
  const servers: TestHttpServer[] = [];
  let routes: Map<string, (request: http.IncomingMessage, response: http.ServerResponse) => void>;
  let main: TestHttpServer;
  let other: TestHttpServer;

  before(async () => {
    routes = new Map();
    const dispatch = (request: http.IncomingMessage, response: http.ServerResponse) => {
      const route = routes.get(new URL(request.url ?? '/', 'http://x').pathname);
      if (route) route(request, response);
      else response.writeHead(404).end();
    };
    main = await startHttpServer(dispatch, '127.0.0.1');
    other = await startHttpServer(dispatch, '127.0.0.2');
    servers.push(main, other);
  });
  after(async () => {
    for (const server of servers) await server.close();
  });

  test('streams the body and sends download_headers with accept-encoding identity', async () => {
    let seen: http.IncomingHttpHeaders = {};
    routes.set('/file', (request, response) => {
      seen = request.headers;
      response.writeHead(200, { 'content-length': '11' }).end('hello world');
    });
    const opened = await openUrlDownload(
      `${main.origin}/file`,
      { Authorization: 'Bearer t0k3n', 'X-Trace': 'abc' },
      options(),
    );
    assert.equal(opened.declaredSize, 11);
    assert.equal((await drain(opened.stream)).toString(), 'hello world');
    assert.equal(seen.authorization, 'Bearer t0k3n');
    assert.equal(seen['x-trace'], 'abc');
    assert.equal(seen['accept-encoding'], 'identity');
  });

  test('a body the server encoded anyway (gzip, deflate, br, zstd, stacked) is scanned decoded', async () => {
    const original = Buffer.from('the decoded content, not its encoding\n'.repeat(200));
    const encoded: Record<string, Buffer> = {
      gzip: gzipSync(original),
      deflate: deflateSync(original),
      br: brotliCompressSync(original),
      zstd: zstdCompressSync(original),
      'gzip, br': brotliCompressSync(gzipSync(original)),
      Identity: original,
    };
    for (const [coding, body] of Object.entries(encoded)) {
      routes.set('/encoded', (_request, response) => {
        response
          .writeHead(200, { 'content-length': String(body.length), 'content-encoding': coding })
          .end(body);
      });
      const opened = await openUrlDownload(`${main.origin}/encoded`, {}, options());
      assert.ok((await drain(opened.stream)).equals(original), coding);
    }
  });

  test('a coding that cannot be decoded is refused before the body is read', async () => {
    routes.set('/compress', (_request, response) => {
      response.writeHead(200, { 'content-encoding': 'compress' }).end('opaque');
    });
    await assert.rejects(
      openUrlDownload(`${main.origin}/compress`, {}, options()),
      scanGateError('unsupported_encoding', false),
    );
  });

  test('a decompression bomb stops at the limit of decoded bytes', async () => {
    const bomb = brotliCompressSync(Buffer.alloc(64 * 1024 * KiB));
    assert.ok(bomb.length < 64 * KiB);
    routes.set('/bomb', (_request, response) => {
      response.writeHead(200, { 'content-encoding': 'br' }).end(bomb);
    });
    const opened = await openUrlDownload(`${main.origin}/bomb`, {}, options({ maxBytes: 1024 * KiB }));
    await assert.rejects(drain(opened.stream), scanGateError('size_limit'));
  });

  test('a body that does not decode as announced fails for good', async () => {
    routes.set('/broken', (_request, response) => {
      response.writeHead(200, { 'content-encoding': 'gzip' }).end('hello world, not gzip');
    });
    const opened = await openUrlDownload(`${main.origin}/broken`, {}, options());
    await assert.rejects(drain(opened.stream), scanGateError('download_failed', false));
  });

  test('refuses forbidden download_headers before connecting', async () => {
    const before = main.connections;
    await assert.rejects(
      openUrlDownload(`${main.origin}/file`, { Host: 'evil.example' }, options()),
      scanGateError('invalid_request'),
    );
    assert.equal(main.connections, before);
  });

  test('stops reading past maxBytes and closes the connection before the server finished', async () => {
    const outcome = { finished: false, closed: false };
    let closed: Promise<unknown> = Promise.resolve();
    routes.set('/big', (_request, response) => {
      closed = once(response, 'close');
      response.writeHead(200); // chunked: no Content-Length to refuse up front
      writeBytes(response, 64 * 1024 * KiB, outcome);
    });
    const opened = await openUrlDownload(`${main.origin}/big`, {}, options({ maxBytes: 256 * KiB }));
    assert.equal(opened.declaredSize, undefined);
    await assert.rejects(drain(opened.stream), scanGateError('size_limit', false));
    await closed;
    assert.equal(outcome.closed, true);
    assert.equal(outcome.finished, false, 'the server was able to send everything');
  });

  test('refuses up front when Content-Length exceeds maxBytes', async () => {
    let closed: Promise<unknown> = Promise.resolve();
    const outcome = { finished: false, closed: false };
    routes.set('/declared-big', (_request, response) => {
      closed = once(response, 'close');
      response.writeHead(200, { 'content-length': String(64 * 1024 * KiB) });
      writeBytes(response, 64 * 1024 * KiB, outcome);
    });
    await assert.rejects(
      openUrlDownload(`${main.origin}/declared-big`, {}, options({ maxBytes: 1024 })),
      scanGateError('size_limit', false),
    );
    await closed;
    assert.equal(outcome.finished, false);
  });

  test('a body shorter than its Content-Length fails, retryable', async () => {
    routes.set('/short', (_request, response) => {
      response.writeHead(200, { 'content-length': '1000' });
      response.write(Buffer.alloc(500, 0x62), () => response.socket?.destroy());
    });
    const opened = await openUrlDownload(`${main.origin}/short`, {}, options());
    assert.equal(opened.declaredSize, 1000);
    await assert.rejects(drain(opened.stream), scanGateError('download_failed', true));
  });

  test('a server that never answers hits the headers timeout', async () => {
    routes.set('/silent', () => {});
    await assert.rejects(
      openUrlDownload(`${main.origin}/silent`, {}, options({ headersTimeoutMs: 200 })),
      scanGateError('download_timeout', true),
    );
  });

  test('a body that stalls hits the idle body timeout', async () => {
    routes.set('/stall', (_request, response) => {
      response.writeHead(200, { 'content-length': '100' });
      response.write('partial');
    });
    const opened = await openUrlDownload(`${main.origin}/stall`, {}, options({ bodyIdleTimeoutMs: 200 }));
    await assert.rejects(drain(opened.stream), scanGateError('download_timeout', true));
  });

  test('a trickling body hits the whole-download deadline', async () => {
    routes.set('/trickle', (_request, response) => {
      response.writeHead(200);
      const timer = setInterval(() => response.write('x'), 20);
      response.once('close', () => clearInterval(timer));
    });
    const opened = await openUrlDownload(`${main.origin}/trickle`, {}, options({ downloadTimeoutMs: 300 }));
    // Final: another attempt at the same server would hold a worker as long again.
    await assert.rejects(drain(opened.stream), scanGateError('download_timeout', false));
  });

  test('a body slower than the throughput floor fails for good, long before the deadline', async () => {
    routes.set('/drip', (_request, response) => {
      response.writeHead(200, { 'content-length': '100000' });
      const timer = setInterval(() => response.write('x'), 20);
      response.once('close', () => clearInterval(timer));
    });
    const opened = await openUrlDownload(
      `${main.origin}/drip`,
      {},
      options({ minBytesPerSecond: 1000, minRateWindowMs: 400, downloadTimeoutMs: 60_000 }),
    );
    await assert.rejects(drain(opened.stream), (error: unknown) => {
      scanGateError('download_timeout', false)(error);
      assert.match((error as Error).message, /slower than 1000 bytes\/s/);
      return true;
    });
  });

  test('a body above the throughput floor is read whole', async () => {
    routes.set('/steady', (_request, response) => {
      response.writeHead(200, { 'content-length': String(40 * 1024) });
      let sent = 0;
      const timer = setInterval(() => {
        response.write(Buffer.alloc(1024, 0x61));
        sent += 1024;
        if (sent >= 40 * 1024) {
          clearInterval(timer);
          response.end();
        }
      }, 10);
    });
    const opened = await openUrlDownload(
      `${main.origin}/steady`,
      {},
      // 100 KB/s against a 10 KB/s floor over 250 ms windows: the floor is checked during the
      // 400 ms body, and a loaded machine's timer stalls of up to ~200 ms do not read as a slow peer.
      options({ minBytesPerSecond: 10_000, minRateWindowMs: 250 }),
    );
    assert.equal((await drain(opened.stream)).length, 40 * 1024);
  });

  test('follows redirects up to the limit, then fails for good', async () => {
    let hops = 0;
    routes.set('/loop', (_request, response) => {
      hops++;
      response.writeHead(307, { location: `/loop?n=${hops}` }).end();
    });
    await assert.rejects(
      openUrlDownload(`${main.origin}/loop`, {}, options({ maxRedirects: 3 })),
      scanGateError('download_failed', false),
    );
    assert.equal(hops, 4);
  });

  test('keeps download_headers on same-origin hops and drops them on cross-origin hops', async () => {
    const authorizations: (string | undefined)[] = [];
    routes.set('/start', (request, response) => {
      authorizations.push(request.headers.authorization);
      response.writeHead(302, { location: '/same-origin' }).end();
    });
    routes.set('/same-origin', (request, response) => {
      authorizations.push(request.headers.authorization);
      response.writeHead(301, { location: `${other.origin}/elsewhere` }).end();
    });
    routes.set('/elsewhere', (request, response) => {
      authorizations.push(request.headers.authorization);
      response.writeHead(200).end('payload');
    });
    const opened = await openUrlDownload(
      `${main.origin}/start`,
      { Authorization: 'Bearer secret' },
      options(),
    );
    assert.equal((await drain(opened.stream)).toString(), 'payload');
    assert.deepEqual(authorizations, ['Bearer secret', 'Bearer secret', undefined]);
  });

  test('a redirect to a non-http scheme is a refused destination', async () => {
    routes.set('/to-file', (_request, response) => {
      response.writeHead(302, { location: 'file:///etc/passwd' }).end();
    });
    await assert.rejects(
      openUrlDownload(`${main.origin}/to-file`, {}, options()),
      scanGateError('blocked_destination', false),
    );
  });

  test('maps HTTP statuses: 5xx, 408 and 429 retryable, other 4xx final', async () => {
    for (const [status, retryable] of [
      [500, true],
      [503, true],
      [429, true],
      [408, true],
      [404, false],
      [403, false],
      [206, false],
    ] as const) {
      routes.set('/status', (_request, response) => {
        response.writeHead(status, { 'retry-after': '7' }).end('nope');
      });
      await assert.rejects(
        openUrlDownload(`${main.origin}/status`, {}, options()),
        (error: unknown) => {
          scanGateError('download_failed', retryable)(error);
          assert.equal((error as ScanGateError).details?.statusCode, status);
          return true;
        },
        `HTTP ${status}`,
      );
    }
  });

  test('a refused connection is a retryable download failure', async () => {
    const gone = await startHttpServer(() => {});
    const origin = gone.origin;
    await gone.close();
    await assert.rejects(
      openUrlDownload(`${origin}/x`, {}, options()),
      scanGateError('download_failed', true),
    );
  });

  test('a consumer that stops reading early closes the connection', async () => {
    let closed: Promise<unknown> = Promise.resolve();
    routes.set('/endless', (_request, response) => {
      closed = once(response, 'close');
      response.writeHead(200);
      response.write(Buffer.alloc(64 * KiB));
    });
    const opened = await openUrlDownload(
      `${main.origin}/endless`,
      {},
      options({ bodyIdleTimeoutMs: 60_000 }),
    );
    opened.stream.once('data', () => opened.stream.destroy());
    await once(opened.stream, 'close');
    await closed;
  });

  test('the caller can abort a download in progress', async () => {
    routes.set('/slow', (_request, response) => {
      response.writeHead(200);
      response.write('first');
    });
    const controller = new AbortController();
    const opened = await openUrlDownload(`${main.origin}/slow`, {}, options({ signal: controller.signal }));
    const drained = drain(opened.stream);
    controller.abort();
    await assert.rejects(drained, isScanGateError);
  });
});

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isScanGateError, ScanGateError } from '../../src/errors.ts';
import { createS3Client, openS3Object } from '../../src/sources/s3/index.ts';
import { type S3rverHandle, sendS3Error, startS3rver } from '../support/s3rver.ts';

const BUCKET = 'scangate-source';
const MAX = 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function assertCode(code: string, retryable: boolean) {
  return (error: unknown): boolean => {
    assert.ok(isScanGateError(error), `expected a ScanGateError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.retryable, retryable);
    return true;
  };
}

describe('openS3Object against s3rver', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  /** No SDK retries: fault tests see the first answer. */
  let onceClient: S3Client;
  const report = Buffer.from('%PDF-1.4 quarterly report\n'.repeat(100));

  /** Answers GETs of `key` with `respond` instead of s3rver; returns the uninstaller. */
  function fault(key: string, respond: (response: ServerResponse) => void): () => void {
    return s3.intercept((request, response) => {
      if (request.method !== 'GET' || !request.url?.startsWith(`/${BUCKET}/${key}?`)) return false;
      respond(response);
      return true;
    });
  }

  before(async () => {
    s3 = await startS3rver([BUCKET]);
    client = createS3Client(s3.config);
    onceClient = createS3Client(s3.config, { maxAttempts: 1 });
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'docs/report.pdf', Body: report }));
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'empty.txt', Body: '', ContentLength: 0 }));
  });

  after(async () => {
    client.destroy();
    onceClient.destroy();
    await s3.stop();
  });

  test('streams an object with its size and etag', async () => {
    const opened = await openS3Object(client, { bucket: BUCKET, key: 'docs/report.pdf' }, { maxBytes: MAX });
    assert.equal(opened.declaredSize, report.length);
    assert.match(opened.etag ?? '', /^"[0-9a-f]{32}"$/);
    assert.deepEqual(await readAll(opened.stream), report);
  });

  test('an object stored with a Content-Encoding is read decoded; an unknown coding is refused', async () => {
    await client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'report.br',
        Body: brotliCompressSync(report),
        ContentEncoding: 'br',
      }),
    );
    const opened = await openS3Object(client, { bucket: BUCKET, key: 'report.br' }, { maxBytes: MAX });
    assert.ok((await readAll(opened.stream)).equals(report));
    assert.equal(opened.declaredSize, undefined);

    await client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'bomb.gz',
        Body: gzipSync(Buffer.alloc(8 * MAX)),
        ContentEncoding: 'gzip',
      }),
    );
    const bomb = await openS3Object(client, { bucket: BUCKET, key: 'bomb.gz' }, { maxBytes: MAX });
    await assert.rejects(readAll(bomb.stream), assertCode('size_limit', false));

    await client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'packed.bin',
        Body: report,
        ContentEncoding: 'pack200-gzip',
      }),
    );
    await assert.rejects(
      openS3Object(client, { bucket: BUCKET, key: 'packed.bin' }, { maxBytes: MAX }),
      assertCode('unsupported_encoding', false),
    );
  });

  test('an empty object opens as an empty stream', async () => {
    const opened = await openS3Object(client, { bucket: BUCKET, key: 'empty.txt' }, { maxBytes: MAX });
    assert.equal(opened.declaredSize, 0);
    assert.equal((await readAll(opened.stream)).length, 0);
  });

  test('a version is requested as versionId (s3rver serves the current object for any version)', async () => {
    const opened = await openS3Object(
      client,
      { bucket: BUCKET, key: 'docs/report.pdf', version: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY' },
      { maxBytes: MAX },
    );
    assert.deepEqual(await readAll(opened.stream), report);
    const sent = s3.requests
      .filter((request) => request.url.startsWith(`/${BUCKET}/docs/report.pdf?`))
      .at(-1);
    assert.equal(sent?.method, 'GET');
    const query = new URL(sent?.url ?? '', s3.endpoint).searchParams;
    assert.equal(query.get('versionId'), '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY');
  });

  test('a missing key is a final object_not_found', async () => {
    await assert.rejects(
      openS3Object(client, { bucket: BUCKET, key: 'nope' }, { maxBytes: MAX }),
      assertCode('object_not_found', false),
    );
  });

  test('a missing bucket is a final object_not_found', async () => {
    await assert.rejects(
      openS3Object(client, { bucket: 'no-such-bucket', key: 'docs/report.pdf' }, { maxBytes: MAX }),
      assertCode('object_not_found', false),
    );
  });

  test('a missing version (NoSuchVersion) is a final object_not_found', async () => {
    const remove = fault('docs/report.pdf', (response) => sendS3Error(response, 404, 'NoSuchVersion'));
    try {
      await assert.rejects(
        openS3Object(client, { bucket: BUCKET, key: 'docs/report.pdf', version: 'gone' }, { maxBytes: MAX }),
        assertCode('object_not_found', false),
      );
    } finally {
      remove();
    }
  });

  test('unknown credentials are a final access_denied', async () => {
    const stranger = createS3Client({ ...s3.config, accessKeyId: 'NOT-A-KEY' });
    try {
      await assert.rejects(
        openS3Object(stranger, { bucket: BUCKET, key: 'docs/report.pdf' }, { maxBytes: MAX }),
        assertCode('access_denied', false),
      );
    } finally {
      stranger.destroy();
    }
  });

  test('AccessDenied is a final access_denied', async () => {
    const remove = fault('secret.bin', (response) =>
      sendS3Error(response, 403, 'AccessDenied', 'Access Denied'),
    );
    try {
      await assert.rejects(
        openS3Object(client, { bucket: BUCKET, key: 'secret.bin' }, { maxBytes: MAX }),
        assertCode('access_denied', false),
      );
    } finally {
      remove();
    }
  });

  test('throttling and 5xx are a retryable download_failed', async () => {
    for (const [status, code] of [
      [503, 'SlowDown'],
      [500, 'InternalError'],
    ] as const) {
      const remove = fault('busy.bin', (response) => sendS3Error(response, status, code));
      try {
        await assert.rejects(
          openS3Object(onceClient, { bucket: BUCKET, key: 'busy.bin' }, { maxBytes: MAX }),
          assertCode('download_failed', true),
        );
      } finally {
        remove();
      }
    }
  });

  test('an unreachable endpoint is a retryable download_failed', async () => {
    const closed = await startS3rver([BUCKET]);
    await closed.stop();
    const unreachable = createS3Client(closed.config, { maxAttempts: 1 });
    try {
      await assert.rejects(
        openS3Object(unreachable, { bucket: BUCKET, key: 'docs/report.pdf' }, { maxBytes: MAX }),
        assertCode('download_failed', true),
      );
    } finally {
      unreachable.destroy();
    }
  });

  test('an object over maxBytes is refused before reading', async () => {
    await assert.rejects(
      openS3Object(client, { bucket: BUCKET, key: 'docs/report.pdf' }, { maxBytes: report.length - 1 }),
      assertCode('size_limit', false),
    );
    const exact = await openS3Object(
      client,
      { bucket: BUCKET, key: 'docs/report.pdf' },
      { maxBytes: report.length },
    );
    assert.equal((await readAll(exact.stream)).length, report.length);
  });

  test('maxBytes is enforced while streaming when no size is announced', async () => {
    const remove = fault('chunked.bin', (response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' });
      response.write(Buffer.alloc(600));
      response.end(Buffer.alloc(600));
    });
    try {
      const opened = await openS3Object(client, { bucket: BUCKET, key: 'chunked.bin' }, { maxBytes: 1000 });
      assert.equal(opened.declaredSize, undefined);
      await assert.rejects(readAll(opened.stream), assertCode('size_limit', false));
    } finally {
      remove();
    }
  });

  test('a body cut short of its ContentLength is a retryable download_failed', async () => {
    const remove = fault('cut.bin', (response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1000 });
      response.write(Buffer.alloc(400), () => response.socket?.destroy());
    });
    try {
      const opened = await openS3Object(onceClient, { bucket: BUCKET, key: 'cut.bin' }, { maxBytes: MAX });
      assert.equal(opened.declaredSize, 1000);
      await assert.rejects(readAll(opened.stream), assertCode('download_failed', true));
    } finally {
      remove();
    }
  });

  test('aborting the signal fails the stream with the abort reason and closes the connection', async () => {
    let serverSide: ServerResponse | undefined;
    const remove = fault('endless.bin', (response) => {
      serverSide = response;
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 10_000_000 });
      response.write(Buffer.alloc(1000));
    });
    try {
      const controller = new AbortController();
      const opened = await openS3Object(
        client,
        { bucket: BUCKET, key: 'endless.bin' },
        { maxBytes: 20_000_000, signal: controller.signal },
      );
      await once(opened.stream, 'readable');
      const closed = once(serverSide!, 'close');
      const reason = new ScanGateError('shutting_down', 'worker stopping', { retryable: true });
      controller.abort(reason);
      await assert.rejects(readAll(opened.stream), (error) => error === reason);
      await closed;
    } finally {
      remove();
    }
  });

  test('an already aborted signal makes no request', async () => {
    const before = s3.requests.length;
    await assert.rejects(
      openS3Object(
        client,
        { bucket: BUCKET, key: 'docs/report.pdf' },
        { maxBytes: MAX, signal: AbortSignal.abort() },
      ),
      assertCode('download_failed', true),
    );
    assert.equal(s3.requests.length, before);
  });

  test('a consumer that stops reading releases the S3 connection', async () => {
    let serverSide: ServerResponse | undefined;
    const remove = fault('stalled.bin', (response) => {
      serverSide = response;
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 10_000 });
      response.write(Buffer.alloc(100));
    });
    try {
      const opened = await openS3Object(client, { bucket: BUCKET, key: 'stalled.bin' }, { maxBytes: MAX });
      const closed = once(serverSide!, 'close');
      opened.stream.destroy();
      await closed;
    } finally {
      remove();
    }
  });
});

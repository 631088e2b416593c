import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ScangateApiError, ScangateClient, verifyCallbackSignature } from 'scangate/client';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { createS3Client } from '../../src/sources/s3/index.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import { type S3rverHandle, startS3rver } from '../support/s3rver.ts';
import { KEY_A, KEY_B, startTestService, type TestService } from '../support/service.ts';

const MiB = 1024 * 1024;
const BUCKET = 'client-test';

interface ReceivedCallback {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

describe('scangate/client against a running service', () => {
  let service: TestService;
  let s3: S3rverHandle;
  let origin: TestHttpServer;
  let files: string;
  let client: ScangateClient;
  const callbacks: ReceivedCallback[] = [];
  let callbackArrived: (() => void) | undefined;

  before(async () => {
    s3 = await startS3rver([BUCKET]);
    await createS3Client(s3.config).send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'inbox/eicar.txt', Body: eicarBytes() }),
    );
    // One loopback server plays both the download origin and the callback receiver.
    origin = await startHttpServer((request, response) => {
      if (request.method === 'POST') {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          callbacks.push({ headers: request.headers, body: Buffer.concat(chunks) });
          response.writeHead(204).end();
          callbackArrived?.();
        });
      } else if (request.url === '/eicar') response.end(eicarBytes());
      else response.writeHead(404).end('gone');
    });
    service = await startTestService({
      s3: s3.config,
      limits: { maxFileSizeBytes: 2 * MiB },
      // The test origin and receiver are on loopback, which is refused by default.
      network: { allowCidrs: ['127.0.0.0/8'] },
    });
    files = await mkdtemp(path.join(tmpdir(), 'scangate-client-'));
    await writeFile(path.join(files, 'eicar.com'), eicarBytes());
    client = new ScangateClient({ baseUrl: service.url, apiKey: KEY_A });
  });

  after(async () => {
    await service?.stop();
    await origin?.close();
    await s3?.stop();
    if (files) await rm(files, { recursive: true, force: true });
  });

  test('scanFile from a path: infected, with the finding and the file name', async () => {
    const submitted = await client.scanFile(path.join(files, 'eicar.com'), { traceId: 'client-path' });
    assert.equal(submitted.status, 'pending');
    const result = await client.waitForResult(submitted.id);
    assert.equal(result.status, 'infected');
    assert.match(result.finding ?? '', /^Eicar/);
    assert.equal(result.trace_id, 'client-path');
    assert.deepEqual(result.source, { kind: 'upload', filename: 'eicar.com' });
    assert.equal(result.size, 68);
  });

  test('scanFile from a Buffer and from a stream of unknown length, with progress', async () => {
    const fromBuffer = await client.scanFile(randomBytes(10_000), { filename: 'notes.txt' });
    assert.equal((await client.waitForResult(fromBuffer.id)).status, 'clean');

    const bytes = randomBytes(MiB + 123);
    const progress: [number, number | undefined][] = [];
    const fromStream = await client.scanFile(Readable.from([bytes.subarray(0, MiB), bytes.subarray(MiB)]), {
      filename: 'stream.bin',
      onProgress: (sent, total) => progress.push([sent, total]),
    });
    const result = await client.waitForResult(fromStream.id);
    assert.equal(result.status, 'clean');
    assert.equal(result.size, bytes.length);
    assert.deepEqual(progress.at(-1), [bytes.length, undefined]);
  });

  test('an upload over the limit is a ScangateApiError 413 payload_too_large', async () => {
    const error = await client.scanFile(randomBytes(3 * MiB)).then(
      () => assert.fail('accepted an upload over the limit'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof ScangateApiError, String(error));
    assert.equal(error.status, 413);
    assert.equal(error.code, 'payload_too_large');
  });

  test('scanUrl: a downloaded EICAR is infected, a 404 is unscannable', async () => {
    const infected = await client.waitForResult((await client.scanUrl(`${origin.origin}/eicar`)).id);
    assert.equal(infected.status, 'infected');
    assert.deepEqual(infected.source, { kind: 'url', url: `${origin.origin}/eicar` });
    const missing = await client.waitForResult((await client.scanUrl(`${origin.origin}/missing`)).id);
    assert.equal(missing.status, 'unscannable');
    assert.equal(missing.reason, 'download_failed');
  });

  test('scanS3 reads the object with the service credentials', async () => {
    const submitted = await client.scanS3({ bucket: BUCKET, key: 'inbox/eicar.txt' }, { traceId: 's3-1' });
    const result = await client.waitForResult(submitted.id);
    assert.equal(result.status, 'infected');
    assert.deepEqual(result.source, { kind: 's3', bucket: BUCKET, key: 'inbox/eicar.txt', version: null });
  });

  test('callbacks verify with verifyCallbackSignature and the tenant secret', async () => {
    const arrived = new Promise<void>((resolve) => {
      callbackArrived = resolve;
    });
    await client.scanFile(eicarBytes(), {
      filename: 'cb.com',
      callbackUrl: `${origin.origin}/hook`,
      customData: 'x1',
    });
    await arrived;
    const callback = callbacks.at(-1)!;
    const secret = await client.getWebhookSecret();
    assert.match(secret, /^whsec_/);
    assert.equal(verifyCallbackSignature(secret, callback.headers, callback.body), true);
    assert.equal(
      verifyCallbackSignature(
        secret,
        new Headers(Object.entries(callback.headers).map(([name, value]) => [name, String(value)])),
        callback.body,
      ),
      true,
    );
    const tampered = Buffer.from(callback.body.toString().replace('infected', 'clean'));
    assert.equal(verifyCallbackSignature(secret, callback.headers, tampered), false);
    const otherSecret = await new ScangateClient({ baseUrl: service.url, apiKey: KEY_B }).getWebhookSecret();
    assert.equal(verifyCallbackSignature(otherSecret, callback.headers, callback.body), false);
    // A signature past the tolerance window is a replay.
    const later = Number(callback.headers['webhook-timestamp']) + 3600;
    assert.equal(
      verifyCallbackSignature(secret, callback.headers, callback.body, { nowSeconds: later }),
      false,
    );
  });

  test('content policy: set for the tenant, narrowed per scan, never widened', async () => {
    const tenantB = new ScangateClient({ baseUrl: service.url, apiKey: KEY_B });
    try {
      assert.equal((await tenantB.getPolicy()).default, true);
      const exe = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(62)]);
      const narrowed = await tenantB.waitForResult(
        (await tenantB.scanFile(exe, { filename: 'cv.pdf', policy: { block: ['executables'] } })).id,
      );
      assert.equal(narrowed.status, 'blocked');
      assert.equal(narrowed.rule, 'executables');
      assert.deepEqual(narrowed.policy, {
        block: ['executables'],
        allowed_types: null,
        max_archive_members: null,
      });

      const strict = await tenantB.setPolicy('strict');
      assert.equal(strict.default, false);
      const refused = await tenantB
        .scanUrl(`${origin.origin}/eicar`, { policy: 'default' })
        .catch((error) => error);
      assert.ok(refused instanceof ScangateApiError);
      assert.equal(refused.status, 400);
      assert.equal(refused.code, 'policy_wider_than_tenant');
    } finally {
      await tenantB.setPolicy('default');
    }
  });

  test('listScans and getStats see the verdicts', async () => {
    const infected = await client.listScans({ status: 'infected', limit: 100 });
    assert.ok(infected.length >= 3);
    assert.ok(infected.every((scan) => scan.status === 'infected'));
    const stats = await client.getStats(24);
    assert.equal(stats.bucket_seconds, 3600);
    assert.ok(stats.totals.infected >= 3 && stats.totals.clean >= 2 && stats.totals.unscannable >= 1);
  });

  test('errors carry the HTTP status and scangate code', async () => {
    const notFound = await client
      .getResult('00000000-0000-0000-0000-000000000000')
      .catch((error: unknown) => error);
    assert.ok(notFound instanceof ScangateApiError);
    assert.equal(notFound.status, 404);
    assert.equal(notFound.code, 'not_found');

    const wrongKey = new ScangateClient({ baseUrl: service.url, apiKey: 'not-a-key-of-anyone' });
    const unauthorized = await wrongKey.scanUrl('https://example.com/x').catch((error: unknown) => error);
    assert.ok(unauthorized instanceof ScangateApiError);
    assert.equal(unauthorized.status, 401);
    assert.equal(unauthorized.code, 'unauthorized');

    const nobody = new ScangateClient({ baseUrl: 'http://127.0.0.1:9', apiKey: KEY_A });
    const refused = await nobody.getResult('x').catch((error: unknown) => error);
    assert.ok(refused instanceof ScangateApiError);
    assert.equal(refused.status, 0);
    assert.equal(refused.code, 'connection_failed');
  });
});

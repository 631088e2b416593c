import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { defaultConfig } from '../../src/config.ts';
import { openBlobStore } from '../../src/sources/blobs/open-blob-store.ts';
import { S3BlobStore } from '../../src/sources/blobs/s3-blob-store.ts';
import { createS3Client } from '../../src/sources/s3/index.ts';
import { type S3rverHandle, startS3rver } from '../support/s3rver.ts';
import { blobStoreContract } from './blob-store-contract.ts';

const BUCKET = 'scangate-blobs';
const PREFIX = 'uploads/';

/** Every object in the bucket, named relative to the blob prefix. */
async function bucketContents(client: S3Client): Promise<string[]> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (page.Contents ?? []).map((object) => (object.Key ?? '').replace(PREFIX, ''));
}

blobStoreContract('S3BlobStore', async () => {
  const s3 = await startS3rver([BUCKET]);
  const client = createS3Client(s3.config);
  return {
    store: new S3BlobStore(client, BUCKET, PREFIX),
    leftovers: () => bucketContents(client),
    async teardown() {
      client.destroy();
      await s3.stop();
    },
  };
});

describe('S3BlobStore', () => {
  let s3: S3rverHandle;
  let client: S3Client;

  before(async () => {
    s3 = await startS3rver([BUCKET]);
    client = createS3Client(s3.config);
  });

  after(async () => {
    client.destroy();
    await s3.stop();
  });

  test('openBlobStore with a bucket stages there under the prefix', async () => {
    const config = defaultConfig('/nonexistent-data-dir');
    config.s3 = s3.config;
    config.blobs = { s3Bucket: BUCKET, s3Prefix: 'staged/' };
    const store = await openBlobStore(config, client);
    assert.equal(store.kind, 's3');
    await store.put('k1', Readable.from([Buffer.from('bytes')]), { maxBytes: 100 });
    const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'staged/' }));
    assert.deepEqual(
      page.Contents?.map((object) => [object.Key, object.Size]),
      [['staged/k1', 5]],
    );
    await store.delete('k1');
  });

  test('init fails with store_unavailable when the bucket does not exist', async () => {
    const store = new S3BlobStore(client, 'no-such-bucket', PREFIX);
    await assert.rejects(store.init(), { code: 'store_unavailable' });
  });

  test('list ignores objects under the prefix that are not blob keys, and objects outside it', async () => {
    const store = new S3BlobStore(client, BUCKET, 'listing/');
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'listing/nested/x', Body: 'x' }));
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'elsewhere', Body: 'x' }));
    await store.put('blob-1', Readable.from([Buffer.from('x')]), { maxBytes: 10 });
    assert.deepEqual(await store.list(), ['blob-1']);
  });

  test('a put over the limit after stored parts aborts the multipart upload', async () => {
    const store = new S3BlobStore(client, BUCKET, 'aborting/');
    const data = randomBytes(7 * 1024 * 1024);
    await assert.rejects(
      store.put(
        'too-big',
        Readable.from([data.subarray(0, 6 * 1024 * 1024), data.subarray(6 * 1024 * 1024)]),
        {
          maxBytes: 6 * 1024 * 1024,
        },
      ),
      { code: 'payload_too_large' },
    );
    const calls = s3.requests.filter((request) => request.url.startsWith(`/${BUCKET}/aborting/too-big`));
    assert.ok(calls.some((request) => request.method === 'PUT' && request.url.includes('partNumber=1')));
    // s3rver answers AbortMultipartUpload with MethodNotAllowed; real S3 discards the parts.
    assert.ok(calls.some((request) => request.method === 'DELETE' && request.url.includes('uploadId=')));
    assert.ok(!calls.some((request) => request.method === 'POST' && request.url.includes('uploadId=')));
    assert.deepEqual(await store.list(), []);
  });

  test('S3 failing mid-upload is a retryable store_unavailable and leaves nothing', async () => {
    const store = new S3BlobStore(createS3Client(s3.config, { maxAttempts: 1 }), BUCKET, 'failing/');
    const remove = s3.intercept((request, response) => {
      if (request.method !== 'PUT' || !request.url?.startsWith(`/${BUCKET}/failing/`)) return false;
      request.resume();
      request.on('end', () => {
        response.writeHead(503, { 'content-type': 'application/xml' });
        response.end(
          '<?xml version="1.0"?><Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>',
        );
      });
      return true;
    });
    try {
      await assert.rejects(store.put('unlucky', Readable.from([Buffer.from('data')]), { maxBytes: 100 }), {
        code: 'store_unavailable',
        retryable: true,
      });
    } finally {
      remove();
    }
    assert.deepEqual(await store.list(), []);
  });
});

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createS3Client, openS3Object } from '../../src/sources/s3/index.ts';
import { type S3rverHandle, startS3rver } from '../support/s3rver.ts';

const BUCKET = 'scangate-large';
const MiB = 1024 * 1024;
const OBJECT_SIZE = 200 * MiB;

/** 200 MiB made on the fly from one random MiB with each copy numbered, so nothing holds it whole. */
function generatedObject(): { stream: Readable; sha256: () => string } {
  const block = randomBytes(MiB);
  const hash = createHash('sha256');
  function* chunks(): Generator<Buffer> {
    for (let index = 0; index < OBJECT_SIZE / MiB; index++) {
      const chunk = Buffer.from(block);
      chunk.writeUInt32BE(index, 0);
      hash.update(chunk);
      yield chunk;
    }
  }
  return { stream: Readable.from(chunks(), { objectMode: false }), sha256: () => hash.digest('hex') };
}

describe('a 200 MiB S3 object', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  let expectedSha256: string;

  before(async () => {
    s3 = await startS3rver([BUCKET]);
    client = createS3Client(s3.config);
    const source = generatedObject();
    const upload = new Upload({
      client,
      params: { Bucket: BUCKET, Key: 'large.bin', Body: source.stream },
      partSize: 8 * MiB,
      queueSize: 2,
    });
    await upload.done();
    expectedSha256 = source.sha256();
  });

  after(async () => {
    client.destroy();
    await s3.stop();
  });

  test('streams through without being buffered', async (t) => {
    const baseline = process.memoryUsage();
    let peakRss = baseline.rss;
    let peakHeap = baseline.heapUsed;
    const opened = await openS3Object(
      client,
      { bucket: BUCKET, key: 'large.bin' },
      { maxBytes: OBJECT_SIZE },
    );
    assert.equal(opened.declaredSize, OBJECT_SIZE);
    const hash = createHash('sha256');
    let received = 0;
    let chunkCount = 0;
    for await (const chunk of opened.stream) {
      hash.update(chunk as Buffer);
      received += (chunk as Buffer).length;
      if (++chunkCount % 64 === 0) {
        const usage = process.memoryUsage();
        peakRss = Math.max(peakRss, usage.rss);
        peakHeap = Math.max(peakHeap, usage.heapUsed);
      }
    }
    assert.equal(received, OBJECT_SIZE);
    assert.equal(hash.digest('hex'), expectedSha256);
    const rssGrowth = (peakRss - baseline.rss) / MiB;
    const heapGrowth = (peakHeap - baseline.heapUsed) / MiB;
    assert.ok(rssGrowth < 100, `RSS grew by ${rssGrowth.toFixed(1)} MiB while reading 200 MiB`);
    assert.ok(heapGrowth < 100, `heap grew by ${heapGrowth.toFixed(1)} MiB while reading 200 MiB`);
    t.diagnostic(`200 MiB read: RSS +${rssGrowth.toFixed(1)} MiB, heap +${heapGrowth.toFixed(1)} MiB`);
  });

  test('a limit below its size refuses it before reading', async () => {
    await assert.rejects(
      openS3Object(client, { bucket: BUCKET, key: 'large.bin' }, { maxBytes: OBJECT_SIZE - 1 }),
      { code: 'size_limit' },
    );
  });
});

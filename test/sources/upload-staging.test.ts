import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ScanGateError } from '../../src/errors.ts';
import { DirectoryBlobStore } from '../../src/sources/blobs/directory-blob-store.ts';
import { stageUpload } from '../../src/sources/upload-staging.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The bytes in chunks of 16 KiB, as an HTTP body arrives. */
function chunked(bytes: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16 * 1024)
    chunks.push(bytes.subarray(offset, offset + 16 * 1024));
  return Readable.from(chunks);
}

describe('stageUpload', () => {
  let root: string;
  let blobs: DirectoryBlobStore;
  const options = (key: string, inlineMaxBytes = 64 * 1024, maxBytes = 1024 * 1024) => ({
    blobs,
    key,
    maxBytes,
    inlineMaxBytes,
  });

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'scangate-staging-'));
    blobs = new DirectoryBlobStore(path.join(root, 'uploads'));
    await blobs.init();
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('an upload up to the inline limit comes back whole, with its hash, and writes no file', async () => {
    const bytes = randomBytes(64 * 1024);
    const staged = await stageUpload(chunked(bytes), options('small'));
    assert.ok(staged.inline);
    assert.deepEqual(staged.inline, bytes);
    assert.equal(staged.size, bytes.length);
    assert.equal(staged.sha256, sha256(bytes));
    assert.deepEqual(await readdir(blobs.directory), []);
  });

  test('one byte over the limit streams into the blob store, the bytes read ahead included', async () => {
    const bytes = randomBytes(64 * 1024 + 1);
    const staged = await stageUpload(chunked(bytes), options('large'));
    assert.equal(staged.inline, undefined);
    assert.equal(staged.size, bytes.length);
    assert.equal(staged.sha256, sha256(bytes));
    assert.ok(!staged.inline && staged.blobKey === 'large');
    assert.deepEqual(await readFile(path.join(blobs.directory, 'large')), bytes);
    await blobs.delete('large');
  });

  test('an inline limit of 0 stages every upload; the size limit and empty uploads are refused either way', async () => {
    const staged = await stageUpload(chunked(Buffer.from('tiny')), options('staged', 0));
    assert.ok(!staged.inline && staged.blobKey === 'staged');
    await blobs.delete('staged');
    for (const inlineMaxBytes of [0, 1024]) {
      await assert.rejects(
        stageUpload(Readable.from([]), options('empty', inlineMaxBytes)),
        (error) => error instanceof ScanGateError && error.code === 'empty_file',
      );
      await assert.rejects(
        stageUpload(chunked(randomBytes(40_000)), options('huge', inlineMaxBytes, 32_000)),
        (error) => error instanceof ScanGateError && error.code === 'payload_too_large',
      );
    }
    assert.deepEqual(await readdir(blobs.directory), [], 'nothing left behind');
  });
});

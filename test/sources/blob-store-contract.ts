import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { isScanGateError } from '../../src/errors.ts';
import type { BlobStore } from '../../src/sources/blobs/blob-store.ts';

export interface BlobStoreFixture {
  store: BlobStore;
  /** Everything the store holds underneath, including partial or temporary leftovers. */
  leftovers(): Promise<string[]>;
  teardown(): Promise<void>;
}

const MiB = 1024 * 1024;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The bytes as a stream of chunks of at most `chunkSize`, like a network upload arrives. */
function streamOf(data: Buffer, chunkSize = 64 * 1024): Readable {
  function* chunks(): Generator<Buffer> {
    for (let offset = 0; offset < data.length; offset += chunkSize)
      yield data.subarray(offset, offset + chunkSize);
  }
  return Readable.from(chunks(), { objectMode: false });
}

/** A stream that sends `first` and then fails, like a client that disconnects mid-upload. */
function failingStream(first: Buffer, error: Error): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    yield first;
    throw error;
  }
  return Readable.from(chunks(), { objectMode: false });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function hasCode(code: string) {
  return (error: unknown): boolean => {
    assert.ok(isScanGateError(error), `expected ScanGateError(${code}), got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

let keyCounter = 0;
function newKey(label: string): string {
  keyCounter += 1;
  return `${label}-${process.pid}-${keyCounter}-${randomBytes(4).toString('hex')}`;
}

/** The behaviour every BlobStore must have; run once per implementation. */
export function blobStoreContract(name: string, setup: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let fixture: BlobStoreFixture;
    let store: BlobStore;

    before(async () => {
      fixture = await setup();
      store = fixture.store;
      await store.init();
    });

    after(async () => {
      await fixture.teardown();
    });

    /** After a failed put nothing may remain but the blobs that were put successfully. */
    async function assertOnlyBlobs(): Promise<void> {
      const listed = await store.list();
      assert.deepEqual((await fixture.leftovers()).sort(), listed);
    }

    test('init is idempotent', async () => {
      await store.init();
    });

    test('put, open, list and delete a blob', async () => {
      const data = randomBytes(300 * 1024 + 7);
      const key = newKey('roundtrip');
      const staged = await store.put(key, streamOf(data), { maxBytes: MiB });
      assert.deepEqual(staged, { key, size: data.length, sha256: sha256(data) });
      assert.ok((await store.list()).includes(key));
      assert.deepEqual(await readAll(await store.open(key)), data);
      await store.delete(key);
      assert.ok(!(await store.list()).includes(key));
      await assert.rejects(store.open(key), hasCode('object_not_found'));
    });

    test('deleting a missing blob is not an error', async () => {
      await store.delete(newKey('never-put'));
    });

    test('a blob larger than one S3 part keeps its size and sha256', async () => {
      const data = randomBytes(11 * MiB + 123);
      const key = newKey('multipart');
      const staged = await store.put(key, streamOf(data, 256 * 1024), { maxBytes: 12 * MiB });
      assert.equal(staged.size, data.length);
      assert.equal(staged.sha256, sha256(data));
      assert.equal(sha256(await readAll(await store.open(key))), sha256(data));
      await store.delete(key);
    });

    test('exactly maxBytes is accepted', async () => {
      const data = randomBytes(4096);
      const key = newKey('exact');
      const staged = await store.put(key, streamOf(data, 1000), { maxBytes: 4096 });
      assert.equal(staged.size, 4096);
      await store.delete(key);
    });

    test('one byte over maxBytes is payload_too_large and leaves nothing', async () => {
      const key = newKey('over');
      await assert.rejects(
        store.put(key, streamOf(randomBytes(4097), 1000), { maxBytes: 4096 }),
        hasCode('payload_too_large'),
      );
      assert.ok(!(await store.list()).includes(key));
      await assertOnlyBlobs();
    });

    test('going over maxBytes after whole parts were stored leaves nothing', async () => {
      const key = newKey('over-multipart');
      await assert.rejects(
        store.put(key, streamOf(randomBytes(13 * MiB), 256 * 1024), { maxBytes: 12 * MiB }),
        hasCode('payload_too_large'),
      );
      assert.ok(!(await store.list()).includes(key));
      await assertOnlyBlobs();
    });

    test('an empty upload is empty_file unless allowed', async () => {
      const refused = newKey('empty');
      await assert.rejects(
        store.put(refused, streamOf(Buffer.alloc(0)), { maxBytes: MiB }),
        hasCode('empty_file'),
      );
      assert.ok(!(await store.list()).includes(refused));
      await assertOnlyBlobs();

      const allowed = newKey('empty-allowed');
      const staged = await store.put(allowed, streamOf(Buffer.alloc(0)), { maxBytes: MiB, allowEmpty: true });
      assert.deepEqual(staged, { key: allowed, size: 0, sha256: sha256(Buffer.alloc(0)) });
      assert.equal((await readAll(await store.open(allowed))).length, 0);
      await store.delete(allowed);
    });

    test('an input that fails mid-way rejects with its error and leaves nothing', async () => {
      const key = newKey('disconnect');
      const disconnect = new Error('client went away');
      await assert.rejects(
        store.put(key, failingStream(randomBytes(1000), disconnect), { maxBytes: MiB }),
        (error) => {
          assert.equal(error, disconnect);
          return true;
        },
      );
      assert.ok(!(await store.list()).includes(key));
      await assertOnlyBlobs();
    });

    test('keys that are not plain names are refused', async () => {
      for (const key of ['', '../escape', 'a/b', '.hidden', 'with space', 'x'.repeat(201)]) {
        await assert.rejects(
          store.put(key, streamOf(Buffer.from('x')), { maxBytes: MiB }),
          hasCode('internal_error'),
        );
        await assert.rejects(store.open(key), hasCode('internal_error'));
        await assert.rejects(store.delete(key), hasCode('internal_error'));
      }
    });

    test('concurrent puts each keep their own bytes', async () => {
      const uploads = Array.from({ length: 8 }, (_, index) => ({
        key: newKey(`concurrent${index}`),
        data: randomBytes(200 * 1024 + index * 4099),
      }));
      const staged = await Promise.all(
        uploads.map(({ key, data }) => store.put(key, streamOf(data, 16 * 1024), { maxBytes: MiB })),
      );
      const listed = await store.list();
      for (const [index, { key, data }] of uploads.entries()) {
        assert.deepEqual(staged[index], { key, size: data.length, sha256: sha256(data) });
        assert.ok(listed.includes(key));
        assert.equal(sha256(await readAll(await store.open(key))), sha256(data));
      }
      await Promise.all(uploads.map(({ key }) => store.delete(key)));
      const remaining = await store.list();
      for (const { key } of uploads) assert.ok(!remaining.includes(key));
      await assertOnlyBlobs();
    });
  });
}

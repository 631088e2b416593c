import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { defaultConfig } from '../../src/config.ts';
import { DirectoryBlobStore, temporaryName } from '../../src/sources/blobs/directory-blob-store.ts';
import { openBlobStore } from '../../src/sources/blobs/open-blob-store.ts';
import { blobStoreContract } from './blob-store-contract.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'scangate-blobs-'));
}

blobStoreContract('DirectoryBlobStore', async () => {
  const root = await tempDir();
  const directory = path.join(root, 'uploads');
  return {
    store: new DirectoryBlobStore(directory),
    leftovers: () => readdir(directory),
    teardown: () => rm(root, { recursive: true, force: true }),
  };
});

describe('DirectoryBlobStore', () => {
  test('openBlobStore without a bucket stages in <dataDir>/uploads', async () => {
    const dataDir = await tempDir();
    try {
      const store = await openBlobStore(defaultConfig(dataDir));
      assert.equal(store.kind, 'directory');
      assert.ok((await stat(path.join(dataDir, 'uploads'))).isDirectory());
      await store.put('abc', Readable.from([Buffer.from('hello')]), { maxBytes: 10 });
      assert.deepEqual(await readdir(path.join(dataDir, 'uploads')), ['abc']);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('temp files are not listed, and init removes only stale ones', async () => {
    const directory = await tempDir();
    try {
      const store = new DirectoryBlobStore(directory);
      await store.init();
      const fresh = path.join(directory, '.partial-fresh-1');
      const stale = path.join(directory, '.partial-stale-1');
      await writeFile(fresh, 'half');
      await writeFile(stale, 'half');
      const twoDaysAgo = new Date(Date.now() - 48 * 3600_000);
      await utimes(stale, twoDaysAgo, twoDaysAgo);
      assert.deepEqual(await store.list(), []);
      await store.init();
      assert.deepEqual((await readdir(directory)).sort(), ['.partial-fresh-1']);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test('init removes the temp files of a process that died mid-upload, not those of live ones', async () => {
    const directory = await tempDir();
    try {
      const dead = spawn(process.execPath, ['-e', '0']);
      await once(dead, 'exit');
      const deadTemp = temporaryName('0a1b2c3d-dead', dead.pid!);
      const liveTemp = temporaryName('0a1b2c3d-live', process.ppid);
      const ownGhost = temporaryName('0a1b2c3d-ghost');
      for (const name of [deadTemp, liveTemp, ownGhost]) await writeFile(path.join(directory, name), 'half');
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const store = new DirectoryBlobStore(directory);
      await store.init();
      const writing = store.put(
        'inflight-key',
        Readable.from(
          (async function* () {
            yield Buffer.from('first half');
            await gate;
            yield Buffer.from(' second half');
          })(),
        ),
        { maxBytes: 1024 },
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      // A second store on the same directory (a restart in the same process) keeps our live upload.
      await new DirectoryBlobStore(directory).init();
      const names = await readdir(directory);
      assert.ok(names.includes(liveTemp), 'a live process keeps its temp file');
      assert.ok(!names.includes(deadTemp), 'a dead process leaves nothing behind');
      assert.ok(!names.includes(ownGhost), 'our pid, but not an upload of ours: a previous incarnation');
      assert.equal(names.filter((name) => name.includes('inflight-key')).length, 1);
      release();
      await writing;
      assert.deepEqual(await store.list(), ['inflight-key']);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test('a blob is invisible under its key until it is complete', async () => {
    const directory = await tempDir();
    try {
      const store = new DirectoryBlobStore(directory);
      await store.init();
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let firstChunkSent: () => void = () => {};
      const firstChunk = new Promise<void>((resolve) => {
        firstChunkSent = resolve;
      });
      async function* slowUpload(): AsyncGenerator<Buffer> {
        yield Buffer.alloc(1000, 1);
        firstChunkSent();
        await gate;
        yield Buffer.alloc(1000, 2);
      }
      const putting = store.put('slow', Readable.from(slowUpload(), { objectMode: false }), {
        maxBytes: 5000,
      });
      await firstChunk;
      assert.deepEqual(await store.list(), []);
      await assert.rejects(store.open('slow'), { code: 'object_not_found' });
      release();
      assert.equal((await putting).size, 2000);
      assert.deepEqual(await store.list(), ['slow']);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

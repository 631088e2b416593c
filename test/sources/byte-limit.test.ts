import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import { ByteLimit, type ByteLimitOptions } from '../../src/sources/byte-limit.ts';

class TooLarge extends Error {}
class Mismatch extends Error {}
class Empty extends Error {}

function limit(options: Partial<ByteLimitOptions> = {}): ByteLimit {
  return new ByteLimit({ maxBytes: 10, tooLarge: () => new TooLarge(), ...options });
}

/** Runs chunks through `stage` and returns what came out the other side. */
async function run(chunks: Buffer[], stage: ByteLimit): Promise<Buffer> {
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      callback();
    },
  });
  await pipeline(Readable.from(chunks), stage, sink);
  return Buffer.concat(received);
}

describe('ByteLimit', () => {
  test('passes bytes through, counts and hashes them', async () => {
    const stage = limit({ maxBytes: 100, hash: true });
    const out = await run([Buffer.from('hello '), Buffer.from('world')], stage);
    assert.equal(out.toString(), 'hello world');
    assert.equal(stage.bytes, 11);
    assert.equal(stage.sha256(), createHash('sha256').update('hello world').digest('hex'));
  });

  test('exactly maxBytes is allowed', async () => {
    const stage = limit();
    await run([Buffer.alloc(4), Buffer.alloc(6)], stage);
    assert.equal(stage.bytes, 10);
  });

  test('one byte over maxBytes fails before the chunk passes', async () => {
    const stage = limit();
    const received: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(chunk);
        callback();
      },
    });
    await assert.rejects(pipeline(Readable.from([Buffer.alloc(6), Buffer.alloc(5)]), stage, sink), TooLarge);
    assert.equal(Buffer.concat(received).length, 6);
  });

  test('ending short of the expected size fails', async () => {
    const stage = limit({ expectedBytes: 8, sizeMismatch: () => new Mismatch() });
    await assert.rejects(run([Buffer.alloc(5)], stage), Mismatch);
  });

  test('ending at the expected size succeeds', async () => {
    const stage = limit({ expectedBytes: 5, sizeMismatch: () => new Mismatch() });
    await run([Buffer.alloc(5)], stage);
  });

  test('empty input fails only when asked to', async () => {
    await assert.rejects(run([], limit({ emptyInput: () => new Empty() })), Empty);
    const allowed = limit({ hash: true });
    await run([], allowed);
    assert.equal(allowed.sha256(), createHash('sha256').digest('hex'));
  });
});

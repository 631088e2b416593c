import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatClamdAddress, parseClamdAddress } from '../../src/engine/clamd/address.ts';
import {
  chunkHeader,
  END_OF_STREAM,
  encodeCommand,
  frameChunk,
  MAX_REPLY_BYTES,
  ReplyAccumulator,
} from '../../src/engine/clamd/protocol.ts';
import { parseVersionReply } from '../../src/engine/clamd/version.ts';

describe('clamd framing', () => {
  test('commands are z-prefixed and NUL-terminated', () => {
    assert.deepEqual(encodeCommand('INSTREAM'), Buffer.from('zINSTREAM\0', 'latin1'));
    assert.deepEqual(encodeCommand('PING'), Buffer.from([0x7a, 0x50, 0x49, 0x4e, 0x47, 0x00]));
  });

  test('chunk lengths are 4-byte big-endian; the stream ends with a zero length', () => {
    assert.deepEqual(chunkHeader(1), Buffer.from([0, 0, 0, 1]));
    assert.deepEqual(chunkHeader(0x01020304), Buffer.from([1, 2, 3, 4]));
    assert.deepEqual(chunkHeader(2 ** 32 - 1), Buffer.from([255, 255, 255, 255]));
    assert.deepEqual(END_OF_STREAM, Buffer.from([0, 0, 0, 0]));
  });

  test('a large chunk becomes several frames, each header matching its payload', () => {
    const data = Buffer.alloc(10);
    for (let index = 0; index < data.length; index++) data[index] = index;
    const frames = frameChunk(data, 4);
    assert.equal(frames.length, 6);
    assert.deepEqual(frames[0], chunkHeader(4));
    assert.deepEqual(frames[1], data.subarray(0, 4));
    assert.deepEqual(frames[4], chunkHeader(2));
    assert.deepEqual(frames[5], data.subarray(8, 10));
    assert.deepEqual(Buffer.concat(frames.filter((_, index) => index % 2 === 1)), data);
    assert.deepEqual(frameChunk(Buffer.alloc(0)), []);
  });

  test('a reply is complete at its NUL, even when split across reads', () => {
    const accumulator = new ReplyAccumulator();
    assert.equal(accumulator.push(Buffer.from('stream: Eicar-Sig')), undefined);
    assert.equal(accumulator.partial, 'stream: Eicar-Sig');
    assert.equal(
      accumulator.push(Buffer.from('nature.UNOFFICIAL FOUND\0trailing')),
      'stream: Eicar-Signature.UNOFFICIAL FOUND',
    );
    assert.equal(accumulator.reply, 'stream: Eicar-Signature.UNOFFICIAL FOUND');
    assert.equal(accumulator.push(Buffer.from('more\0')), 'stream: Eicar-Signature.UNOFFICIAL FOUND');
  });

  test('STATS is multi-line and still ends at the NUL', () => {
    const accumulator = new ReplyAccumulator();
    assert.equal(
      accumulator.push(Buffer.from('POOLS: 1\n\nSTATE: VALID PRIMARY\nEND\0')),
      'POOLS: 1\n\nSTATE: VALID PRIMARY\nEND',
    );
  });

  test("clamd's newline-terminated read timeout is recognised", () => {
    assert.equal(
      new ReplyAccumulator().push(Buffer.from('COMMAND READ TIMED OUT\n')),
      'COMMAND READ TIMED OUT',
    );
  });

  test('an endless reply without terminator is refused', () => {
    const accumulator = new ReplyAccumulator();
    assert.throws(() => accumulator.push(Buffer.alloc(MAX_REPLY_BYTES + 1, 0x41)));
  });
});

describe('clamd addresses', () => {
  test('unix socket paths', () => {
    assert.deepEqual(parseClamdAddress('/run/clamd.sock'), { kind: 'unix', path: '/run/clamd.sock' });
    assert.deepEqual(parseClamdAddress('unix:/run/clamd.sock'), { kind: 'unix', path: '/run/clamd.sock' });
    assert.deepEqual(parseClamdAddress('./data/clamd.sock'), { kind: 'unix', path: './data/clamd.sock' });
  });

  test('host:port forms', () => {
    assert.deepEqual(parseClamdAddress('127.0.0.1:3310'), { kind: 'tcp', host: '127.0.0.1', port: 3310 });
    assert.deepEqual(parseClamdAddress('tcp://clamd.internal:3310'), {
      kind: 'tcp',
      host: 'clamd.internal',
      port: 3310,
    });
    assert.deepEqual(parseClamdAddress('[::1]:3310'), { kind: 'tcp', host: '::1', port: 3310 });
    assert.equal(formatClamdAddress(parseClamdAddress('[::1]:3310')), '[::1]:3310');
    assert.equal(formatClamdAddress(parseClamdAddress('localhost:3310')), 'localhost:3310');
  });

  test('typos fail early', () => {
    for (const bad of ['clamd', 'localhost', 'host:0', 'host:70000', '::1:3310', 'http://host:3310', '']) {
      assert.throws(() => parseClamdAddress(bad), /not a clamd address/, bad);
    }
  });
});

describe('VERSION replies', () => {
  test('with a daily database', () => {
    const version = parseVersionReply('ClamAV 1.4.6/27000/Mon Nov 23 05:50:56 2026\0');
    assert.equal(version.engineVersion, '1.4.6');
    assert.equal(version.databaseVersion, '27000');
    assert.equal(version.databaseDate?.getFullYear(), 2026);
  });

  test('with plain signature files only', () => {
    assert.deepEqual(parseVersionReply('ClamAV 1.4.6'), { engineVersion: '1.4.6' });
  });

  test('anything else is refused', () => {
    assert.throws(() => parseVersionReply('UNKNOWN COMMAND'));
  });
});

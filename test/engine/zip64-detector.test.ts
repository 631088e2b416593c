import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Zip64LocalHeaderDetector } from '../../src/engine/zip64-detector.ts';

function localHeader(compressedSize: number, size: number): Buffer {
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt32LE(compressedSize, 18);
  header.writeUInt32LE(size, 22);
  return header;
}

test('a Zip64 local header is found, even split across chunks at any point', () => {
  const bytes = Buffer.concat([Buffer.alloc(1000, 7), localHeader(0xffffffff, 0xffffffff), Buffer.alloc(50)]);
  for (let split = 0; split <= bytes.length; split += 1) {
    const detector = new Zip64LocalHeaderDetector();
    detector.push(bytes.subarray(0, split));
    detector.push(bytes.subarray(split));
    assert.equal(detector.found, true, `split at ${split}`);
  }
});

test('ordinary local headers and random bytes are not Zip64', () => {
  const detector = new Zip64LocalHeaderDetector();
  detector.push(Buffer.concat([localHeader(120, 300), Buffer.from('PK\x03\x04 too short at the end')]));
  detector.push(Buffer.alloc(4096, 0xff));
  assert.equal(detector.found, false);
});

test('a Zip64 local header is found when the stream arrives in chunks of any small size', () => {
  const bytes = Buffer.concat([Buffer.alloc(97, 7), localHeader(120, 0xffffffff), Buffer.alloc(13)]);
  for (let size = 1; size <= 40; size++) {
    const detector = new Zip64LocalHeaderDetector();
    for (let offset = 0; offset < bytes.length; offset += size)
      detector.push(bytes.subarray(offset, offset + size));
    assert.equal(detector.found, true, `chunks of ${size} bytes`);
  }
});

test('a header cut off by the end of the stream is not reported', () => {
  const detector = new Zip64LocalHeaderDetector();
  const header = localHeader(0xffffffff, 0xffffffff);
  detector.push(Buffer.alloc(10));
  detector.push(header.subarray(0, 20));
  assert.equal(detector.found, false);
  detector.push(header.subarray(20));
  assert.equal(detector.found, true);
});

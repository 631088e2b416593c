import { randomBytes, randomFillSync } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SizeClass } from './options.ts';

/** Files at or below this size are held in memory during a round; larger ones are streamed from disk. */
export const IN_MEMORY_LIMIT = 8 * 1024 * 1024;
const WRITE_CHUNK = 4 * 1024 * 1024;
/** The tail of every file that a round rewrites (see RoundStamp). */
export const STAMP_BYTES = 16;

export interface DataSet {
  size: SizeClass;
  files: string[];
}

/**
 * Random bytes with bytes 2..3 forced to 00 01: libclamav types such data "binary data". Without
 * it about 3 in 4 random files pass for UTF-16BE text and scan 2.3× faster (reference/clamav.md §7).
 */
function fillRandomBinary(buffer: Buffer, isFirstChunk: boolean): void {
  randomFillSync(buffer);
  if (isFirstChunk && buffer.length >= 4) {
    buffer[2] = 0x00;
    buffer[3] = 0x01;
  }
}

export async function writeRandomFile(file: string, bytes: number): Promise<void> {
  const handle = await open(file, 'w');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(bytes, WRITE_CHUNK));
    for (let offset = 0; offset < bytes; offset += buffer.length) {
      const length = Math.min(buffer.length, bytes - offset);
      fillRandomBinary(buffer, offset === 0);
      await handle.write(buffer, 0, length);
    }
  } finally {
    await handle.close();
  }
}

export async function generateDataSet(root: string, size: SizeClass): Promise<DataSet> {
  const dir = path.join(root, size.name);
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (let index = 0; index < size.count; index++) {
    const file = path.join(dir, `${String(index).padStart(5, '0')}.bin`);
    await writeRandomFile(file, size.bytes);
    files.push(file);
  }
  return { size, files };
}

/**
 * Every round sends every file with its last 16 bytes XORed with a fresh random key, so no byte
 * sequence is ever sent twice across rounds: neither clamd's MD5 cache of clean files nor
 * scangate's verdict cache can answer one without scanning. The data on disk never changes.
 */
export class RoundStamp {
  readonly key: Buffer;

  constructor(key: Buffer = randomBytes(STAMP_BYTES)) {
    this.key = key;
  }

  /** XORs the stamp into `chunk`, which holds the bytes [chunkOffset, chunkOffset + length) of a file of `fileSize`. */
  apply(chunk: Buffer, chunkOffset: number, fileSize: number): void {
    const stampStart = Math.max(0, fileSize - STAMP_BYTES);
    const from = Math.max(stampStart, chunkOffset);
    const to = Math.min(fileSize, chunkOffset + chunk.length);
    for (let position = from; position < to; position++) {
      chunk[position - chunkOffset]! ^= this.key[position - stampStart]!;
    }
  }
}

/** One file as the clients send it: in memory (small) or read from disk chunk by chunk (large). */
export interface Payload {
  size: number;
  /** Present for in-memory payloads, already stamped. */
  buffer?: Buffer;
  /** Yields the stamped bytes in chunks of `chunkSize`. */
  chunks(chunkSize?: number): AsyncIterable<Buffer>;
}

function memoryPayload(buffer: Buffer): Payload {
  return {
    size: buffer.length,
    buffer,
    async *chunks(chunkSize = 256 * 1024) {
      for (let offset = 0; offset < buffer.length; offset += chunkSize)
        yield buffer.subarray(offset, offset + chunkSize);
    },
  };
}

export function diskPayload(file: string, size: number, stamp: RoundStamp): Payload {
  return {
    size,
    async *chunks(chunkSize = 256 * 1024) {
      const handle = await open(file, 'r');
      try {
        for (let offset = 0; offset < size; ) {
          // A fresh buffer per chunk: the consumer may still hold the previous one.
          const chunk = Buffer.allocUnsafe(Math.min(chunkSize, size - offset));
          const { bytesRead } = await handle.read(chunk, 0, chunk.length, offset);
          if (bytesRead === 0) throw new Error(`${file} is shorter than ${size} bytes`);
          const filled = chunk.subarray(0, bytesRead);
          stamp.apply(filled, offset, size);
          offset += bytesRead;
          yield filled;
        }
      } finally {
        await handle.close();
      }
    },
  };
}

/** The payloads of a data set for one round: small files loaded (and stamped) before the clock starts. */
export async function loadPayloads(data: DataSet, stamp: RoundStamp): Promise<Payload[]> {
  if (data.size.bytes > IN_MEMORY_LIMIT)
    return data.files.map((file) => diskPayload(file, data.size.bytes, stamp));
  const payloads: Payload[] = [];
  for (const file of data.files) {
    const buffer = await readFile(file);
    stamp.apply(buffer, 0, buffer.length);
    payloads.push(memoryPayload(buffer));
  }
  return payloads;
}

export { memoryPayload };

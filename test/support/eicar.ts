/**
 * Test inputs for the engine: the EICAR bytes (assembled at run time, never stored in a file of the
 * repository), archives of a buffer, and large random streams that are generated, not held.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

export { eicarBytes } from '../../src/engine/eicar.ts';

const run = promisify(execFile);

export function gzipOf(data: Buffer): Buffer {
  return gzipSync(data);
}

/** A zip archive (Info-ZIP's `zip`) holding the given files; with a password, ZipCrypto-encrypted. */
export async function zipOf(
  files: Record<string, Buffer>,
  options: { password?: string } = {},
): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'scangate-zip-'));
  try {
    for (const [name, data] of Object.entries(files)) await writeFile(path.join(dir, name), data);
    const args = ['-q', '-X'];
    if (options.password) args.push('-P', options.password);
    await run('zip', [...args, 'archive.zip', ...Object.keys(files)], { cwd: dir });
    return await readFile(path.join(dir, 'archive.zip'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `depth` zips nested in each other around `data`. */
export async function nestedZipOf(name: string, data: Buffer, depth: number): Promise<Buffer> {
  let current = data;
  let currentName = name;
  for (let level = 0; level < depth; level++) {
    current = await zipOf({ [currentName]: current });
    currentName = `level${level}.zip`;
  }
  return current;
}

/**
 * `totalBytes` of random data, generated chunk by chunk as the consumer reads (backpressure keeps
 * at most a few chunks alive). `onChunk` sees each chunk and the running total as it is handed out.
 */
export function randomStream(
  totalBytes: number,
  options: { chunkBytes?: number; onChunk?: (chunk: Buffer, bytesSoFar: number) => void } = {},
): Readable {
  const chunkBytes = options.chunkBytes ?? 256 * 1024;
  let produced = 0;
  return new Readable({
    highWaterMark: chunkBytes,
    read() {
      if (produced >= totalBytes) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(chunkBytes, totalBytes - produced));
      produced += chunk.length;
      options.onChunk?.(chunk, produced);
      this.push(chunk);
    },
  });
}

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ScanGateError } from '../errors.ts';
import type { BlobStore } from './blobs/blob-store.ts';

export interface StagingOptions {
  blobs: BlobStore;
  /** The blob key a large upload is staged under. */
  key: string;
  maxBytes: number;
  /** Uploads up to this size are kept in memory for the store, not staged (0 = stage every upload). */
  inlineMaxBytes: number;
}

export type StagedUpload =
  | { inline: Buffer; size: number; sha256: string }
  | { inline?: undefined; blobKey: string; size: number; sha256: string };

/**
 * Where an upload waits for its worker. A small one (up to inlineMaxBytes) is read whole and
 * handed back, to be stored with its job: one database write instead of a file, its fsync and a
 * delete. A larger one streams into the blob store as it arrives, the bytes read so far first.
 */
export async function stageUpload(input: Readable, options: StagingOptions): Promise<StagedUpload> {
  const inlineLimit = Math.min(options.inlineMaxBytes, options.maxBytes);
  const iterator: AsyncIterator<Buffer> = input[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let size = 0;
  while (size <= inlineLimit) {
    const next = await iterator.next();
    if (next.done) {
      if (size === 0) throw new ScanGateError('empty_file', 'the upload is empty');
      const inline = Buffer.concat(head, size);
      return { inline, size, sha256: createHash('sha256').update(inline).digest('hex') };
    }
    head.push(next.value);
    size += next.value.length;
  }
  async function* headThenRest(): AsyncGenerator<Buffer> {
    try {
      yield* head;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Staging stopped early (over the limit, store failed): the rest of the upload is not read.
      await iterator.return?.();
    }
  }
  const staged = await options.blobs.put(options.key, Readable.from(headThenRest()), {
    maxBytes: options.maxBytes,
  });
  return { blobKey: staged.key, size: staged.size, sha256: staged.sha256 };
}

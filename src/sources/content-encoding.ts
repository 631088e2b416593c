import { pipeline, Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate, createZstdDecompress } from 'node:zlib';
import { isScanGateError, ScanGateError } from '../errors.ts';

/**
 * HTTP content codings scangate decodes before scanning. clamd opens gzip and zlib streams itself
 * but not brotli or zstd, and no coding is guaranteed to be recognised inside clamd, so a server
 * that ignores `Accept-Encoding: identity` must not get its body scanned still encoded: that is
 * how a brotli-encoded EICAR came back `clean`.
 */
const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
  zstd: createZstdDecompress,
};

/** Each coding multiplies the bytes; more than this many stacked is not a real server. */
const MAX_CODINGS = 3;

/**
 * The codings to undo, in the order they were applied (`Content-Encoding: gzip, br` means gzip
 * first, then br). Empty for none or identity. Throws unsupported_encoding for anything else:
 * bytes in an unknown coding cannot be judged, so they are unscannable, never clean.
 */
export function parseContentEncoding(header: string | string[] | undefined): string[] {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  const codings = text
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  for (const coding of codings) {
    if (!Object.hasOwn(DECODERS, coding)) {
      throw new ScanGateError(
        'unsupported_encoding',
        `Content-Encoding ${JSON.stringify(coding.slice(0, 40))} cannot be decoded`,
        { details: { contentEncoding: coding.slice(0, 40) } },
      );
    }
  }
  if (codings.length > MAX_CODINGS) {
    throw new ScanGateError('unsupported_encoding', `more than ${MAX_CODINGS} stacked content codings`);
  }
  return codings;
}

/**
 * `encoded` decoded through each coding (streaming, with backpressure), limited to `maxBytes`
 * decoded bytes: a decompression bomb fails with size_limit after maxBytes, never buffered.
 * A body that does not decode fails with download_failed (final: the server sends the same).
 * Stopping to read (limit, abort, engine done) destroys the chain down to the socket or S3 body.
 */
export function decodeContent(encoded: Readable, codings: string[], maxBytes: number): Readable {
  const decoders = [...codings].reverse().map((coding) => DECODERS[coding]!());
  const decoded = decoders.at(-1)!;
  // pipeline destroys every stage when one fails or `decoded` is destroyed (finally, below), the
  // source included; a failure anywhere also errors `decoded`, which is where it is read and mapped.
  pipeline([encoded, ...decoders], () => {});
  const names = codings.join(', ');
  async function* limited(): AsyncGenerator<Buffer> {
    let total = 0;
    try {
      for await (const chunk of decoded as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > maxBytes) {
          throw new ScanGateError('size_limit', `decoded body exceeds the limit of ${maxBytes} bytes`, {
            details: { maxBytes },
          });
        }
        yield chunk;
      }
    } catch (error) {
      if (isScanGateError(error)) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new ScanGateError('download_failed', `body does not decode as ${names}: ${message}`, {
        cause: error,
      });
    } finally {
      decoded.destroy();
    }
  }
  return Readable.from(limited(), { objectMode: false });
}

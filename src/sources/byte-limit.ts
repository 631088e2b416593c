import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface ByteLimitOptions {
  /** More than this many bytes fails the stream with `tooLarge()` before the extra chunk passes. */
  maxBytes: number;
  tooLarge: (maxBytes: number) => Error;
  /** Bytes the source announced; ending with any other count fails with `sizeMismatch()`. */
  expectedBytes?: number;
  sizeMismatch?: (received: number, expected: number) => Error;
  /** Set to fail an input that ends with no bytes at all. */
  emptyInput?: () => Error;
  /** Compute the sha256 of the bytes while they pass. */
  hash?: boolean;
}

/**
 * A pass-through that counts (and optionally hashes) the bytes flowing from a source and fails
 * the stream the moment a bound is broken, so no consumer ever sees more than maxBytes and a
 * truncated source can never end like a complete one.
 */
export class ByteLimit extends Transform {
  readonly #options: ByteLimitOptions;
  readonly #hash: Hash | undefined;
  #bytes = 0;

  constructor(options: ByteLimitOptions) {
    super();
    this.#options = options;
    this.#hash = options.hash ? createHash('sha256') : undefined;
  }

  /** Bytes passed through so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Hex sha256 of every byte passed; call once, after the stream ended. */
  sha256(): string {
    if (!this.#hash) throw new Error('ByteLimit was created without hash: true');
    return this.#hash.digest('hex');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const total = this.#bytes + chunk.length;
    if (total > this.#options.maxBytes) {
      callback(this.#options.tooLarge(this.#options.maxBytes));
      return;
    }
    this.#bytes = total;
    this.#hash?.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { expectedBytes, sizeMismatch, emptyInput } = this.#options;
    if (expectedBytes !== undefined && this.#bytes !== expectedBytes) {
      const error = sizeMismatch
        ? sizeMismatch(this.#bytes, expectedBytes)
        : new Error(`received ${this.#bytes} bytes, expected ${expectedBytes}`);
      callback(error);
      return;
    }
    if (this.#bytes === 0 && emptyInput) {
      callback(emptyInput());
      return;
    }
    callback();
  }
}

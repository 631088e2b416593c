import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { isScanGateError, ScanGateError } from '../../errors.ts';
import type { ScanObserver } from '../engine.ts';
import { Zip64LocalHeaderDetector } from '../zip64-detector.ts';
import type { ClamdConnection } from './connection.ts';
import { END_OF_STREAM, encodeCommand, frameChunk } from './protocol.ts';

export interface InstreamOptions {
  /** Largest input accepted: reading stops at the first byte beyond it. */
  maxBytes: number;
  /** How long clamd may refuse to take more data before the scan is an engine timeout. */
  stallTimeoutMs: number;
  /** How long clamd may take to answer once the last byte is sent. */
  replyTimeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Sees each chunk as it is sent (see ScanOptions.observer). */
  observer?: ScanObserver | undefined;
}

export type InstreamResult =
  | {
      kind: 'reply';
      reply: string;
      /** False when clamd answered before the end of the stream was sent (it refused the stream). */
      complete: boolean;
      size: number;
      /** Hex sha256 of every byte of the input; empty when the input was not read to its end. */
      sha256: string;
      transferMs: number;
      scanMs: number;
      /** The bytes hold a Zip64 local header, which clamd skips (see zip64-detector.ts). */
      zip64LocalHeader: boolean;
    }
  | { kind: 'too_large'; bytesRead: number; transferMs: number };

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`scan input yielded a ${typeof chunk}, not bytes`);
}

/**
 * Streams `input` into clamd with INSTREAM on an open connection (one-command or a session; the
 * connection is destroyed unless the stream was answered), hashing and counting as it goes.
 * Memory stays bounded: each chunk is written and, when the socket is full, we wait for it to drain
 * before reading the next one. Errors of the input are rethrown as they are (the source knows what
 * they mean); errors of the connection are ScanGateErrors from ClamdConnection.
 */
export async function streamToClamd(
  connection: ClamdConnection,
  input: Readable,
  options: InstreamOptions,
): Promise<InstreamResult> {
  const { signal, maxBytes, stallTimeoutMs } = options;
  if (signal?.aborted) throw signal.reason;
  const onAbort = () => input.destroy(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const hash = createHash('sha256');
  const zip64 = new Zip64LocalHeaderDetector();
  let size = 0;
  let firstByteAt: number | undefined;
  let refusedEarly = false;
  let answered = false;
  try {
    connection.startCommand(signal);
    // Writes go out one chunk behind the input, so the last chunk leaves with the end of the
    // stream (a small file: one write, command and all). On a session the command waits for the
    // first chunk too: clamd gives a session its ReadTimeout for the next command, as it does for
    // data. A fresh connection sends it at once, within clamd's shorter CommandReadTimeout.
    let commandUnsent = connection.sessionCommands !== undefined;
    if (!commandUnsent) await connection.write([encodeCommand('INSTREAM')], stallTimeoutMs);
    let unsent: Buffer[][] = [];
    const writer = new FrameWriter(connection, stallTimeoutMs, !commandUnsent);
    for await (const chunk of input) {
      const data = asBuffer(chunk);
      firstByteAt ??= performance.now();
      size += data.length;
      if (size > maxBytes) {
        // Leaving the loop destroys the input: nothing past the limit is read or downloaded.
        return { kind: 'too_large', bytesRead: size, transferMs: performance.now() - firstByteAt };
      }
      hash.update(data);
      zip64.push(data);
      // The observer works while the frames are written; the next chunk waits for both.
      const observed = options.observer?.push(data);
      if (!(await writer.writeAll(unsent))) {
        refusedEarly = true;
        break;
      }
      unsent = framePairs(data);
      if (commandUnsent) {
        unsent[0]!.unshift(encodeCommand('INSTREAM'));
        commandUnsent = false;
      }
      if (observed) await observed;
    }
    const lastByteAt = performance.now();
    if (!refusedEarly) {
      if (commandUnsent) unsent.push([encodeCommand('INSTREAM')]);
      if (unsent.length === 0) unsent.push([]);
      unsent.at(-1)!.push(END_OF_STREAM);
      if (!(await writer.writeAll(unsent))) refusedEarly = true;
    }
    const sentAt = performance.now();
    const reply = await connection.readReply(options.replyTimeoutMs);
    answered = !refusedEarly;
    return {
      kind: 'reply',
      reply,
      complete: !refusedEarly,
      size,
      sha256: refusedEarly ? '' : hash.digest('hex'),
      transferMs: firstByteAt === undefined ? 0 : lastByteAt - firstByteAt,
      scanMs: performance.now() - sentAt,
      zip64LocalHeader: zip64.found,
    };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (isScanGateError(error) && error.details?.closedWhileSending) error.details.bytesRead = size;
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    connection.endCommand();
    // Only a stream sent to its end and answered leaves a session in step with clamd.
    if (!answered) connection.destroy();
  }
}

/** A chunk's INSTREAM frames, each header with its payload: one write each. */
function framePairs(data: Buffer): Buffer[][] {
  const frames = frameChunk(data);
  const pairs: Buffer[][] = [];
  for (let index = 0; index < frames.length; index += 2) pairs.push(frames.slice(index, index + 2));
  // An empty chunk has no frame; the command may still be prefixed to it.
  return pairs.length > 0 ? pairs : [[]];
}

/**
 * Writes each group of buffers as one write, unless clamd has answered already. clamd answers
 * early only to refuse the stream (its StreamMaxLength) and then closes, so our next write fails:
 * the answer is what counts, not the write error. (The answer is often lost anyway: Node tries a
 * write synchronously and destroys the socket on EPIPE before reading what clamd sent.)
 */
class FrameWriter {
  readonly #connection: ClamdConnection;
  readonly #stallTimeoutMs: number;
  /** A write of this command went out: a close from now on may be clamd refusing the stream. */
  #streaming: boolean;

  constructor(connection: ClamdConnection, stallTimeoutMs: number, commandSent: boolean) {
    this.#connection = connection;
    this.#stallTimeoutMs = stallTimeoutMs;
    this.#streaming = commandSent;
  }

  /** False when clamd has answered. */
  async writeAll(writes: Buffer[][]): Promise<boolean> {
    for (const buffers of writes) {
      if (buffers.length > 0 && !(await this.#writeUnlessAnswered(buffers))) return false;
    }
    return true;
  }

  async #writeUnlessAnswered(buffers: Buffer[]): Promise<boolean> {
    const connection = this.#connection;
    if (connection.reply !== undefined) return false;
    try {
      await connection.write(buffers, this.#stallTimeoutMs);
      this.#streaming = true;
      return true;
    } catch (error) {
      if (connection.reply !== undefined) return false;
      // A session that closed before taking our first write was not refusing this stream.
      if (this.#streaming && isScanGateError(error) && error.code === 'engine_unavailable') {
        // Marked so the pool can tell a clamd that refused the stream (and is alive) from one that died.
        throw new ScanGateError('engine_unavailable', `${error.message} while the stream was being sent`, {
          retryable: true,
          cause: error.cause ?? error,
          details: { closedWhileSending: true },
        });
      }
      throw error;
    }
  }
}

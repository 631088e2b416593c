/**
 * clamd wire format, without sockets. Commands are sent with the `z` prefix, so each command and
 * each reply ends with a NUL byte. INSTREAM data follows as chunks, each prefixed by its length as
 * a 4-byte big-endian integer, ended by a zero-length chunk.
 */

/** RELOAD asks clamd to re-read its signature database (it answers RELOADING and keeps scanning). */
export type ClamdCommandName = 'PING' | 'VERSION' | 'STATS' | 'RELOAD' | 'INSTREAM' | 'IDSESSION' | 'END';

export function encodeCommand(name: ClamdCommandName): Buffer {
  return Buffer.from(`z${name}\0`, 'latin1');
}

export function chunkHeader(length: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length, 0);
  return header;
}

/** The zero-length chunk that ends an INSTREAM. */
export const END_OF_STREAM: Buffer = chunkHeader(0);

/** Chunks larger than this are framed in several pieces (views, not copies). */
export const MAX_CHUNK_BYTES = 256 * 1024;

/** Splits `data` into INSTREAM frames (header, payload, header, payload, ...). */
export function frameChunk(data: Buffer, maxChunk = MAX_CHUNK_BYTES): Buffer[] {
  const frames: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += maxChunk) {
    const piece = data.subarray(offset, Math.min(offset + maxChunk, data.length));
    frames.push(chunkHeader(piece.length), piece);
  }
  return frames;
}

/** Longest reply accepted (STATS is the longest real one, a few hundred bytes). */
export const MAX_REPLY_BYTES = 64 * 1024;

/**
 * Collects socket data until a complete reply. z-replies end with NUL; the one reply clamd sends
 * without honouring the prefix (`COMMAND READ TIMED OUT`) ends with a newline, and is only
 * recognised as complete when nothing precedes it.
 */
export class ReplyAccumulator {
  #parts: Buffer[] = [];
  #length = 0;
  #reply: string | undefined;

  /** Feeds bytes; answers the reply once complete (later bytes are ignored). */
  push(data: Buffer): string | undefined {
    if (this.#reply !== undefined) return this.#reply;
    this.#parts.push(data);
    this.#length += data.length;
    const all = Buffer.concat(this.#parts, this.#length);
    this.#parts = [all];
    const nul = all.indexOf(0);
    if (nul >= 0) {
      this.#reply = all.subarray(0, nul).toString('utf8');
    } else if (/^COMMAND READ TIMED OUT\n/.test(all.toString('latin1'))) {
      this.#reply = 'COMMAND READ TIMED OUT';
    } else if (this.#length > MAX_REPLY_BYTES) {
      throw new Error(`clamd reply longer than ${MAX_REPLY_BYTES} bytes without terminator`);
    }
    return this.#reply;
  }

  get reply(): string | undefined {
    return this.#reply;
  }

  /** True when bytes followed the reply's terminator (a session expects nothing unasked). */
  get trailing(): boolean {
    const all = this.#parts[0];
    return (
      this.#reply !== undefined && all !== undefined && all.indexOf(0) >= 0 && all.indexOf(0) < all.length - 1
    );
  }

  /** Bytes received without a terminator: what a connection closed mid-reply left behind. */
  get partial(): string {
    return Buffer.concat(this.#parts).toString('utf8');
  }
}

/**
 * Splits a session reply `N: text` into its command id and text. Inside IDSESSION clamd prefixes
 * every reply with the id of its command, counting every command sent in the session from 1. The
 * one reply without an id is its newline-terminated read timeout, answered as it is.
 */
export function parseSessionReply(reply: string): { id: number | undefined; text: string } {
  const match = /^(\d+): /.exec(reply);
  if (!match) return { id: undefined, text: reply };
  return { id: Number(match[1]), text: reply.slice(match[0].length) };
}

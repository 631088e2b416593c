import { constants, inflateRawSync } from 'node:zlib';
import { printable } from './file-type.ts';
import type { MemberDataReceiver } from './tar-headers.ts';

const LOCAL_FIXED = 30;
const CENTRAL_FIXED = 46;
/** Compressed bytes of each member kept to learn its type: enough for any magic number or header. */
const MEMBER_HEAD_COMPRESSED = 1024;
/**
 * Deflate expands at most ~1032:1: 1 KiB could inflate to just over 1 MiB, which is the most a
 * member head may cost. The first 64 compressed bytes (at most ~66 KB inflated) are tried first.
 */
const MEMBER_HEAD_INFLATED_MAX = 1024 * 1024;
const MEMBER_HEAD_COMPRESSED_FALLBACK = 64;
/** A head this long holds every magic number and header the type detection reads. */
const ENOUGH_HEAD = 4096;
/** Longer names or extra fields are not what a real archive holds; such a header is not followed. */
const MAX_FIELD = 4096;
/** Signatures found inside compressed data are false starts; never follow more than this many at once. */
const MAX_OPEN_CAPTURES = 64;
const KNOWN_METHODS = new Set([0, 1, 6, 8, 9, 12, 14, 19, 93, 95, 98, 99]);

export interface ZipMemberHeader {
  name: string;
  encrypted: boolean;
  /** The member's first bytes, uncompressed; undefined when they could not be read (encrypted, unknown method). */
  head?: Buffer;
  /** 0 stored, 8 deflated, … */
  method: number;
  /** Undefined when the local header does not say (a data descriptor follows the data, or Zip64). */
  compressedSize?: number;
}

export interface ZipHeaderEvents {
  /** A member; returns a receiver for its whole compressed data, or undefined when its head is enough. */
  member(header: ZipMemberHeader): MemberDataReceiver | undefined;
  symlink(name: string): void;
}

interface Capture {
  kind: 'local' | 'central';
  parts: Buffer[];
  length: number;
  /** Bytes this capture needs; grows once the header's field lengths are known. */
  wanted: number;
  fieldsRead: boolean;
  /** Judged or abandoned: a capture fed twice would report its member twice. */
  done: boolean;
}

/**
 * Finds zip local and central directory headers in a byte stream as it passes, without buffering
 * the stream: each header (and a bounded head of its member's data) is captured from the chunks it
 * spans. Signatures are searched everywhere, so members after a data descriptor (sizes unknown in
 * the local header) are found too; false starts inside compressed data are rejected by their fields.
 */
export class ZipHeaderScanner {
  readonly #events: ZipHeaderEvents;
  #tail = Buffer.alloc(0);
  #captures: Capture[] = [];
  /** Members whose data is being handed on: how many compressed bytes each still has (Infinity: unknown). */
  #followed: { receive: MemberDataReceiver; left: number }[] = [];

  constructor(events: ZipHeaderEvents) {
    this.#events = events;
  }

  push(chunk: Buffer): void {
    // Followed members first: this chunk continues their data.
    const followed = this.#followed;
    this.#followed = [];
    for (const member of followed) this.#follow(member, chunk);
    // Feed captures opened by earlier chunks first: they need this chunk's leading bytes.
    const open = this.#captures.filter((capture) => !capture.done);
    this.#captures = [];
    for (const capture of open) this.#feed(capture, chunk);
    // A signature may start in the last 3 bytes of the previous chunk.
    if (this.#tail.length > 0) {
      const seam = Buffer.concat([this.#tail, chunk.subarray(0, 3)]);
      for (const at of signatureStarts(seam, this.#tail.length)) {
        this.#open(seam[at + 2] === 0x03 ? 'local' : 'central', [seam.subarray(at), chunk.subarray(3)]);
      }
    }
    for (const at of signatureStarts(chunk, chunk.length)) {
      this.#open(chunk[at + 2] === 0x03 ? 'local' : 'central', [chunk.subarray(at)]);
    }
    this.#tail = Buffer.from(Buffer.concat([this.#tail, chunk.subarray(-3)]).subarray(-3));
  }

  /** Judges headers still waiting for bytes: the stream ended, so what they have is all there is. */
  finish(): void {
    for (const capture of this.#captures) if (!capture.done) this.#complete(capture, Buffer.alloc(0));
    this.#captures = [];
    for (const member of this.#followed) member.receive(Buffer.alloc(0), true);
    this.#followed = [];
  }

  #follow(member: { receive: MemberDataReceiver; left: number }, bytes: Buffer): void {
    const take = Math.min(member.left, bytes.length);
    member.left -= take;
    if (!member.receive(bytes.subarray(0, take), member.left === 0)) return;
    if (member.left > 0) this.#followed.push(member);
  }

  #open(kind: Capture['kind'], parts: Buffer[]): void {
    if (this.#captures.length >= MAX_OPEN_CAPTURES) return;
    const capture: Capture = {
      kind,
      parts: [],
      length: 0,
      wanted: kind === 'local' ? LOCAL_FIXED : CENTRAL_FIXED,
      fieldsRead: false,
      done: false,
    };
    for (const part of parts) if (!this.#feed(capture, part)) return;
  }

  /** Adds bytes to a capture; false once it is complete (and judged) or abandoned. */
  #feed(capture: Capture, bytes: Buffer): boolean {
    if (capture.done) return false;
    let offset = 0;
    for (;;) {
      const needed = capture.wanted - capture.length;
      if (needed > 0 && offset < bytes.length) {
        // Copied: the caller's chunk may be reused by the stream after this call.
        const part = Buffer.from(bytes.subarray(offset, offset + needed));
        capture.parts.push(part);
        capture.length += part.length;
        offset += part.length;
      }
      if (capture.length < capture.wanted) {
        if (!this.#captures.includes(capture)) this.#captures.push(capture);
        return true;
      }
      if (capture.fieldsRead) {
        capture.done = true;
        this.#complete(capture, bytes.subarray(offset));
        return false;
      }
      capture.fieldsRead = true;
      const header = Buffer.concat(capture.parts);
      capture.parts = [header];
      const more = this.#fieldLengths(capture.kind, header);
      if (more === undefined) {
        capture.done = true; // not a real header
        return false;
      }
      capture.wanted += more;
    }
  }

  /** Bytes wanted after the fixed part, or undefined when the fields say this is no header. */
  #fieldLengths(kind: Capture['kind'], header: Buffer): number | undefined {
    if (kind === 'local') {
      const method = header.readUInt16LE(8);
      const nameLength = header.readUInt16LE(26);
      const extraLength = header.readUInt16LE(28);
      if (header.readUInt16LE(4) > 100 || !KNOWN_METHODS.has(method)) return undefined;
      if (nameLength === 0 || nameLength > MAX_FIELD || extraLength > MAX_FIELD) return undefined;
      const compressed = header.readUInt32LE(18);
      // Sizes are 0 with a data descriptor (flag bit 3) and 0xFFFFFFFF with Zip64: read a fixed head.
      const dataHead =
        compressed > 0 && compressed !== 0xffffffff
          ? Math.min(compressed, MEMBER_HEAD_COMPRESSED)
          : MEMBER_HEAD_COMPRESSED;
      return nameLength + extraLength + dataHead;
    }
    const nameLength = header.readUInt16LE(28);
    if (header.readUInt16LE(6) > 100 || nameLength === 0 || nameLength > MAX_FIELD) return undefined;
    return nameLength;
  }

  /** `rest`: the stream's bytes right after the capture, where a followed member's data goes on. */
  #complete(capture: Capture, rest: Buffer): void {
    if (!capture.fieldsRead) return; // stream ended inside the fixed part: nothing to judge
    const bytes = capture.parts.length === 1 ? capture.parts[0]! : Buffer.concat(capture.parts);
    if (capture.kind === 'local') this.#local(bytes, rest);
    else this.#central(bytes);
  }

  #local(bytes: Buffer, rest: Buffer): void {
    const flags = bytes.readUInt16LE(6);
    const method = bytes.readUInt16LE(8);
    const nameLength = bytes.readUInt16LE(26);
    const extraLength = bytes.readUInt16LE(28);
    const name = decodeName(bytes.subarray(LOCAL_FIXED, LOCAL_FIXED + nameLength), flags);
    // Bit 0: traditional PKWARE encryption; method 99: WinZip AES.
    const encrypted = (flags & 1) === 1 || method === 99;
    const compressed = bytes.readUInt32LE(18);
    const header: ZipMemberHeader = { name, encrypted, method };
    if ((flags & 0x08) === 0 && compressed !== 0xffffffff) header.compressedSize = compressed;
    const data = bytes.subarray(LOCAL_FIXED + nameLength + extraLength);
    if (!encrypted) {
      const head = memberHead(method, data);
      if (head) header.head = head;
    }
    const receive = this.#events.member(header);
    if (!receive) return;
    // The captured head is the start of the member's data; the stream goes on with the rest.
    const member = { receive, left: header.compressedSize ?? Number.POSITIVE_INFINITY };
    const first = data.subarray(0, member.left);
    member.left -= first.length;
    if (!receive(first, member.left === 0)) return;
    if (member.left > 0) this.#follow(member, rest);
  }

  #central(bytes: Buffer): void {
    const madeBy = bytes.readUInt16LE(4) >> 8;
    const flags = bytes.readUInt16LE(8);
    const nameLength = bytes.readUInt16LE(28);
    const mode = bytes.readUInt32LE(38) >>> 16;
    // Host 3 is Unix: the external attributes' high half is st_mode.
    if (madeBy === 3 && (mode & 0o170000) === 0o120000) {
      this.#events.symlink(decodeName(bytes.subarray(CENTRAL_FIXED, CENTRAL_FIXED + nameLength), flags));
    }
  }
}

function signatureStarts(bytes: Buffer, startsBefore: number): number[] {
  const starts: number[] = [];
  let at = bytes.indexOf(0x50);
  while (at !== -1 && at < startsBefore) {
    if (
      at + 4 <= bytes.length &&
      bytes[at + 1] === 0x4b &&
      ((bytes[at + 2] === 0x03 && bytes[at + 3] === 0x04) ||
        (bytes[at + 2] === 0x01 && bytes[at + 3] === 0x02))
    ) {
      starts.push(at);
    }
    at = bytes.indexOf(0x50, at + 1);
  }
  return starts;
}

function decodeName(bytes: Buffer, flags: number): string {
  // Bit 11: the name is UTF-8; otherwise CP437, of which latin1 keeps every byte visible.
  return printable(bytes.toString(flags & 0x800 ? 'utf8' : 'latin1'), MAX_FIELD);
}

function memberHead(method: number, data: Buffer): Buffer | undefined {
  if (method === 0) return data;
  if (method !== 8) return undefined;
  // The first compressed bytes first: a bomb already yields a long head from them, and then the
  // rest is not inflated at all (a megabyte of zeros costs tens of milliseconds).
  const short = inflateHead(data.subarray(0, MEMBER_HEAD_COMPRESSED_FALLBACK));
  if (short && (short.length >= ENOUGH_HEAD || data.length <= MEMBER_HEAD_COMPRESSED_FALLBACK)) return short;
  return inflateHead(data) ?? short;
}

function inflateHead(compressed: Buffer): Buffer | undefined {
  try {
    // A sync flush returns what the truncated deflate stream holds so far instead of failing.
    return inflateRawSync(compressed, {
      finishFlush: constants.Z_SYNC_FLUSH,
      maxOutputLength: MEMBER_HEAD_INFLATED_MAX,
    });
  } catch {
    return undefined;
  }
}

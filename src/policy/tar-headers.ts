import { printable } from './file-type.ts';

const BLOCK = 512;
/** pax and GNU long-name records larger than this are not what a real archive holds: the rest is skipped. */
const MAX_META = 64 * 1024;

export interface TarMemberHeader {
  name: string;
  kind: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  size: number;
}

/** Receives a member's data as it passes; `end` once it is complete. Returns false to stop receiving. */
export type MemberDataReceiver = (bytes: Buffer, end: boolean) => boolean;

export interface TarHeaderEvents {
  /** A member's header; returns a receiver for its data, or undefined when the data is not wanted. */
  member(header: TarMemberHeader): MemberDataReceiver | undefined;
  /** A header whose checksum does not hold: what follows is not read as tar. */
  invalid(): void;
}

/**
 * Reads tar headers (ustar, pax `path=`, GNU long names) from a byte stream as it passes, without
 * buffering it: one 512-byte header at a time, member data handed to a receiver or skipped.
 */
export class TarHeaderScanner {
  readonly #events: TarHeaderEvents;
  readonly #header = Buffer.alloc(BLOCK);
  #headerFill = 0;
  /** Member data still to come, then the padding to the next block. */
  #dataLeft = 0;
  #paddingLeft = 0;
  #receiver: MemberDataReceiver | undefined;
  /** A pax extended header or GNU long name being collected: it names the next member. */
  #meta: { kind: 'pax' | 'longname'; parts: Buffer[]; length: number } | undefined;
  #nextName: string | undefined;
  #stopped = false;

  constructor(events: TarHeaderEvents) {
    this.#events = events;
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.#stopped) {
      if (this.#dataLeft > 0) {
        const take = Math.min(this.#dataLeft, chunk.length - offset);
        this.#data(chunk.subarray(offset, offset + take));
        offset += take;
        this.#dataLeft -= take;
        if (this.#dataLeft === 0) this.#endData();
      } else if (this.#paddingLeft > 0) {
        const take = Math.min(this.#paddingLeft, chunk.length - offset);
        offset += take;
        this.#paddingLeft -= take;
      } else {
        const take = Math.min(BLOCK - this.#headerFill, chunk.length - offset);
        chunk.copy(this.#header, this.#headerFill, offset, offset + take);
        this.#headerFill += take;
        offset += take;
        if (this.#headerFill === BLOCK) {
          this.#headerFill = 0;
          this.#readHeader();
        }
      }
    }
  }

  /** The stream ended: a member cut short still ends (its receiver judges what it got). */
  finish(): void {
    if (this.#dataLeft > 0) this.#endData();
  }

  #data(bytes: Buffer): void {
    if (this.#receiver && !this.#receiver(bytes, false)) this.#receiver = undefined;
    const meta = this.#meta;
    if (meta && meta.length < MAX_META) {
      const part = Buffer.from(bytes.subarray(0, MAX_META - meta.length));
      meta.parts.push(part);
      meta.length += part.length;
    }
  }

  #endData(): void {
    this.#dataLeft = 0;
    this.#receiver?.(Buffer.alloc(0), true);
    this.#receiver = undefined;
    const meta = this.#meta;
    this.#meta = undefined;
    if (!meta) return;
    const text = Buffer.concat(meta.parts).toString('utf8');
    if (meta.kind === 'longname') this.#nextName = text.replace(/\0.*$/s, '');
    else {
      // pax records: "<length> <key>=<value>\n"
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text);
      if (path) this.#nextName = path[1];
    }
  }

  #readHeader(): void {
    const header = this.#header;
    if (header.every((byte) => byte === 0)) return; // end-of-archive blocks (or padding): nothing to judge
    if (!checksumHolds(header)) {
      this.#stopped = true;
      this.#events.invalid();
      return;
    }
    const size = sizeOf(header);
    const type = String.fromCharCode(header[156]!);
    this.#dataLeft = size;
    this.#paddingLeft = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === 'x' || type === 'L') {
      this.#meta = { kind: type === 'x' ? 'pax' : 'longname', parts: [], length: 0 };
      if (size === 0) this.#endData();
      return;
    }
    if (type === 'g' || type === 'K') {
      if (size === 0) this.#endData();
      return; // global pax header, GNU long link name: nothing a rule reads
    }
    const name = this.#nextName ?? nameOf(header);
    this.#nextName = undefined;
    const kind: TarMemberHeader['kind'] =
      type === '0' || type === '\0' || type === '7'
        ? 'file'
        : type === '5'
          ? 'directory'
          : type === '2'
            ? 'symlink'
            : type === '1'
              ? 'hardlink'
              : 'other';
    this.#receiver = this.#events.member({ name: printable(name, 4096), kind, size });
    if (size === 0) this.#endData();
  }
}

function field(header: Buffer, start: number, length: number): string {
  const bytes = header.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? length : end).toString('utf8');
}

function nameOf(header: Buffer): string {
  const name = field(header, 0, 100);
  const ustar = header.toString('latin1', 257, 262) === 'ustar';
  const prefix = ustar ? field(header, 345, 155) : '';
  return prefix ? `${prefix}/${name}` : name;
}

function sizeOf(header: Buffer): number {
  // GNU base-256: the high bit of the first byte set, the rest a big-endian number.
  if ((header[124]! & 0x80) !== 0) {
    let size = 0;
    for (let at = 125; at < 136; at++) size = size * 256 + header[at]!;
    return size;
  }
  const octal = field(header, 124, 12).trim();
  return octal ? Number.parseInt(octal, 8) || 0 : 0;
}

/** The header's checksum: the sum of its bytes with the checksum field read as spaces (old tars summed signed bytes). */
function checksumHolds(header: Buffer): boolean {
  const stored = Number.parseInt(field(header, 148, 8).trim(), 8);
  if (Number.isNaN(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let at = 0; at < BLOCK; at++) {
    const byte = at >= 148 && at < 156 ? 0x20 : header[at]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

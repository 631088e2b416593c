const LOCAL_HEADER_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
/** Local file header: signature(4) version(2) flags(2) method(2) time(2) date(2) crc(4) sizes(4+4). */
const SIZES_OFFSET = 18;
const HEADER_PREFIX = SIZES_OFFSET + 8;

/**
 * Watches a byte stream for a zip local file header whose sizes are 0xFFFFFFFF (Zip64). clamd 1.4
 * does not read Zip64 local headers: it skips the member and answers OK, so a Zip64 zip can carry
 * malware past it. Such an input must not be called clean. Only the outer bytes are seen — a Zip64
 * zip packed inside another archive is compressed and stays invisible here.
 */
export class Zip64LocalHeaderDetector {
  /** The last HEADER_PREFIX - 1 bytes seen: a header starting there is not complete yet. */
  #tail = Buffer.alloc(0);
  #found = false;

  get found(): boolean {
    return this.#found;
  }

  push(chunk: Buffer): void {
    if (this.#found) return;
    // Headers that start in the tail are completed by the chunk's first bytes: look at that seam
    // alone, so large chunks are never copied.
    if (this.#tail.length > 0) {
      const seam = Buffer.concat([this.#tail, chunk.subarray(0, HEADER_PREFIX - 1)]);
      this.#found = hasZip64Header(seam, this.#tail.length);
    }
    this.#found ||= hasZip64Header(chunk, chunk.length);
    if (this.#found) return;
    this.#tail =
      chunk.length >= HEADER_PREFIX - 1
        ? Buffer.from(chunk.subarray(chunk.length - (HEADER_PREFIX - 1)))
        : Buffer.concat([this.#tail, chunk]).subarray(-(HEADER_PREFIX - 1));
  }
}

/** A complete Zip64 local header in `bytes` that starts before `startsBefore`. */
function hasZip64Header(bytes: Buffer, startsBefore: number): boolean {
  let at = bytes.indexOf(LOCAL_HEADER_SIGNATURE);
  while (at !== -1 && at < startsBefore && at + HEADER_PREFIX <= bytes.length) {
    if (
      bytes.readUInt32LE(at + SIZES_OFFSET) === 0xffffffff ||
      bytes.readUInt32LE(at + SIZES_OFFSET + 4) === 0xffffffff
    ) {
      return true;
    }
    at = bytes.indexOf(LOCAL_HEADER_SIGNATURE, at + 1);
  }
  return false;
}

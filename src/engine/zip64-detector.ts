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
  #tail = Buffer.alloc(0);
  #found = false;

  get found(): boolean {
    return this.#found;
  }

  push(chunk: Buffer): void {
    if (this.#found) return;
    // Keep enough of the previous chunk that a header split across chunks is still seen whole.
    const window = this.#tail.length === 0 ? chunk : Buffer.concat([this.#tail, chunk]);
    let at = window.indexOf(LOCAL_HEADER_SIGNATURE);
    while (at !== -1 && at + HEADER_PREFIX <= window.length) {
      if (
        window.readUInt32LE(at + SIZES_OFFSET) === 0xffffffff ||
        window.readUInt32LE(at + SIZES_OFFSET + 4) === 0xffffffff
      ) {
        this.#found = true;
        return;
      }
      at = window.indexOf(LOCAL_HEADER_SIGNATURE, at + 1);
    }
    const keepFrom = at !== -1 ? at : Math.max(0, window.length - (LOCAL_HEADER_SIGNATURE.length - 1));
    this.#tail = Buffer.from(window.subarray(keepFrom));
  }
}

import { fileTypeFromBuffer } from 'file-type';

/** What the content says the file is, whatever its name claims. */
export interface DetectedFileType {
  /** Usual extension, e.g. `pdf`, `zip`, `exe`. */
  ext: string;
  mime: string;
}

/**
 * Enough for file-type's magic numbers and for the first entries of zip-based formats (docx, xlsx,
 * jar, apk), whose type is told by member names a few KB in.
 */
const SNIFF_BYTES = 64 * 1024;

/**
 * Keeps a copy of the first bytes of a scan as they stream past (ScanOptions.observer) and
 * tells the file type from them afterwards. The source is read once, for clamd; this only looks.
 */
export class FileTypeSniffer {
  readonly #chunks: Buffer[] = [];
  #kept = 0;

  readonly push = (chunk: Buffer): void => {
    if (this.#kept >= SNIFF_BYTES) return;
    // Copied: a source may reuse its buffer once the chunk has been consumed.
    const copy = Buffer.from(chunk.subarray(0, SNIFF_BYTES - this.#kept));
    this.#chunks.push(copy);
    this.#kept += copy.length;
  };

  /** The detected type, or undefined for text and formats without a signature. */
  async detect(): Promise<DetectedFileType | undefined> {
    if (this.#kept === 0) return undefined;
    try {
      const type = await fileTypeFromBuffer(Buffer.concat(this.#chunks, this.#kept));
      return type ? { ext: type.ext, mime: type.mime } : undefined;
    } catch {
      // A prefix cut mid-structure can make a parser give up: that is "unknown", not a failed scan.
      return undefined;
    }
  }
}

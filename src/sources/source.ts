import type { Readable } from 'node:stream';
import type { ServedS3Object } from '../scan.ts';

/** Bytes to scan, opened from wherever a job says they are. */
export interface OpenedSource {
  stream: Readable;
  /** Size announced by the source (Content-Length, S3 ContentLength, staged size) when known. */
  declaredSize?: number;
  /** sha256 already known (computed while staging an upload) — lets the verdict cache answer early. */
  sha256?: string;
  /** The S3 object version the bytes come from, as S3 served it. */
  s3Object?: ServedS3Object;
}

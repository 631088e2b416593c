/**
 * The verdict model every layer shares. Fail closed: `clean` only ever comes from clamd answering
 * `OK` for every byte of the input with signatures loaded; anything else is infected or unscannable.
 * `blocked` (not malware, refused by a tenant's content policy) is never the engine's answer: the
 * policy layer (src/policy/judge.ts) turns a clean verdict into it.
 */
export type VerdictStatus = 'clean' | 'infected' | 'unscannable' | 'blocked';

export type UnscannableReason =
  | 'too_large' // over the configured maximum file size (or clamd's StreamMaxLength / MaxFileSize)
  | 'limits_exceeded' // clamd's MaxScanSize / MaxRecursion / MaxFiles / MaxScanTime
  | 'encrypted' // password-protected archive or document
  | 'unsupported_format' // a format clamd answers OK for without reading it (Zip64, RAR, zstd…), at any depth
  | 'engine_error' // clamd answered ERROR, or kept failing after every retry
  | 'blocked_destination' // URL or callback pointed at a refused address
  | 'download_failed' // remote answered an error or the body ended early, for good
  | 'download_timeout'
  | 'not_found' // S3 object or bucket does not exist
  | 'access_denied'; // S3 refused the read

export interface Verdict {
  status: VerdictStatus;
  /** Signature name for infected; the heuristic name for limits/encrypted (e.g. Heuristics.Encrypted.Zip). */
  finding?: string;
  reason?: UnscannableReason;
  /** Human-readable detail for unscannable verdicts. */
  detail?: string;
  /** For blocked verdicts: the content-policy rule broken (`executables`, `macros`, …). */
  rule?: string;
  /** For blocked verdicts: what was seen and where, e.g. `executables: PE32 at member invoices.zip/setup.exe`. */
  evidence?: string;
}

/** What one scan of one byte stream produced. */
export interface ScanOutcome {
  verdict: Verdict;
  size: number;
  sha256: string;
  engine: 'clamav';
  engineVersion: string;
  signatureVersion: string;
  /** Which database judged it: `clamav` (official), or `scangate-test` (offline test database). */
  signatureDatabase?: string;
  /**
   * The database generation clamd had active (managed clamd: a digest of its signature files, so
   * files that leave the version unchanged still count); null while unknown (a reload in progress).
   */
  databaseTag?: string | null;
  /** First byte read from the source until its last byte was read. */
  transferMs: number;
  /** Last byte sent until clamd's reply (the engine's own work). */
  scanMs: number;
}

/**
 * The key of the verdict cache: the engine and signature versions a verdict was reached with. Empty
 * (cache off) when clamd reports no database version, as with plain signature files, whose changes
 * would otherwise go unnoticed.
 */
export function verdictCacheKey(identity: {
  engineVersion: string;
  signatureVersion: string;
  databaseTag?: string | null | undefined;
}): string {
  if (identity.databaseTag === null) return '';
  if (!identity.engineVersion || !identity.signatureVersion) return '';
  const key = `clamav/${identity.engineVersion}/${identity.signatureVersion}`;
  return identity.databaseTag ? `${key}/${identity.databaseTag}` : key;
}

export function unscannable(reason: UnscannableReason, detail?: string): Verdict {
  return detail === undefined ? { status: 'unscannable', reason } : { status: 'unscannable', reason, detail };
}

/** The shapes of scangate's native API, as a client sees them (see /openapi.json). */

export type ScanStatus = 'pending' | 'clean' | 'infected' | 'unscannable' | 'blocked';

export interface CallbackDeliveryView {
  webhook_id: string;
  url: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
}

export interface NativeScan {
  id: string;
  trace_id: string | null;
  status: ScanStatus;
  /** Signature name when infected; heuristic name for limits and encrypted archives. */
  finding: string | null;
  /** Why the scan is unscannable: too_large, encrypted, engine_error, download_failed, … */
  reason: string | null;
  detail: string | null;
  size: number | null;
  sha256: string | null;
  engine: string | null;
  engine_version: string | null;
  signature_version: string | null;
  /** `clamav`, or `scangate-test` when the offline test database judged it. */
  signature_database: string | null;
  cached: boolean;
  /** The type told by the content, whatever the file name says (the detection `detected_type` comes from); null for unknown binary data and empty content. */
  file_type: { ext: string; mime: string } | null;
  /** Seconds. */
  download_time: number | null;
  /** Seconds. */
  scan_time: number | null;
  attempts: number;
  last_error: string | null;
  source:
    | { kind: 'upload'; filename: string | null }
    | { kind: 'url'; url: string }
    | { kind: 's3'; bucket: string; key: string; version: string | null };
  custom_data: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  callback?: { url: string; deliveries: CallbackDeliveryView[] };
  /** For `blocked`: the content-policy rule broken and what was seen where. */
  rule?: string | null;
  evidence?: string | null;
  /** The name the content was submitted under, and its true type told from content. */
  declared_name?: string | null;
  detected_type?: string | null;
  realfiletype?: string | null;
  /** What the content inspection saw, whether the policy refused it or not. */
  content?: { rule: string; detail: string; member: string | null }[] | null;
  /** The content policy in force for this scan (null: the default). */
  policy?: ContentPolicyView | null;
  /** The bucket-scan object this job scanned (key, verdict, actions taken), when it came from one. */
  bucket_object?: Record<string, unknown>;
}

/** A content policy as the API shows it (docs/POLICY.md). */
export interface ContentPolicyView {
  block: string[];
  allowed_types: string[] | null;
  max_archive_members: number | null;
}

/** What `PUT /v1/policy` takes: a preset name, or a preset plus fields. */
export type ContentPolicyInput =
  | 'default'
  | 'strict'
  | {
      preset?: 'default' | 'strict';
      block?: string[];
      allowed_types?: string[] | null;
      max_archive_members?: number | null;
    };

export interface VerdictBucket {
  start: string;
  clean: number;
  infected: number;
  unscannable: number;
  blocked: number;
}

export interface ScanStats {
  hours: number;
  bucket_seconds: number;
  buckets: VerdictBucket[];
  totals: { clean: number; infected: number; unscannable: number; blocked: number };
  pending: number;
}

/** A bucket scan, watch or event inbox as GET /v1/buckets/scans/{id} answers it. */
export interface BucketScanView {
  id: string;
  kind: string;
  bucket: string;
  prefix: string;
  since: string | null;
  /** listing | scanning | paused | done | cancelled | failed | watching */
  state: string;
  actions: Record<string, unknown>;
  listed: number;
  queued: number;
  clean: number;
  infected: number;
  unscannable: number;
  other: number;
  failed: number;
  skipped: number;
  rescans: number;
  bytes: number;
  bytes_scanned: number;
  /** Objects settled per second since the scan started. */
  rate: number;
  eta_seconds: number | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

/** Options every submission accepts. */
export interface SubmitOptions {
  /** Your own ID for the scan (unique among your pending scans). */
  traceId?: string;
  /** Receives the result by a signed POST (Standard Webhooks). */
  callbackUrl?: string;
  callbackHeaders?: Record<string, string>;
  /** Passed through to the callback; at most 16 KB of UTF-8. */
  customData?: string;
  /** A content policy for this scan, narrower than the tenant's (a wider one is refused: 400). */
  policy?: ContentPolicyInput;
  signal?: AbortSignal;
}

export interface ScanFileOptions extends Omit<SubmitOptions, 'callbackHeaders'> {
  /** Name recorded with the scan; defaults to the path's base name. */
  filename?: string;
  contentType?: string;
  /** Size of a stream input, when known (sends a Content-Length and gives progress a total). */
  size?: number;
  /** Called as the upload advances: bytes of the file sent so far, and the total when known. */
  onProgress?: (sentBytes: number, totalBytes: number | undefined) => void;
}

export interface ScanUrlOptions extends SubmitOptions {
  /** Headers sent with the download (e.g. Authorization for a private URL). */
  headers?: Record<string, string>;
}

export interface S3ObjectRef {
  bucket: string;
  key: string;
  version?: string;
}

export interface WaitOptions {
  /** Give up after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Longest pause between polls (default 1 s); polling starts faster. */
  intervalMs?: number;
  signal?: AbortSignal;
}

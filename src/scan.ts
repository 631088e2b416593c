import type { UnscannableReason, Verdict, VerdictStatus } from './engine/verdict.ts';
import type { ContentInspection } from './policy/inspector.ts';
import type { ContentPolicy } from './policy/policy.ts';

export type { ContentPolicy };

/** What the content says the file is, whatever its name claims: the `file_type`/`realfiletype` answers. */
export interface DetectedFileType {
  /** Usual extension, e.g. `pdf`, `zip`, `exe`. */
  ext: string;
  mime: string;
}

/*
 * The domain types every folder may import: what a scan job is, where its bytes come from, what it
 * produced, and the records kept beside it (callback deliveries, API keys). How they are stored is
 * store/'s business (store/contracts.ts); how they look on the wire is dialects/'.
 */

/** Which API a job came through: it decides the shape of its result and callback. */
export type Dialect = 'bucketav' | 'attachmentav' | 'bucketscan' | 'native';

export type ScanSource =
  | {
      kind: 'upload';
      /** The staged blob; nothing is staged under it when `inline` (the bytes are the job's uploadBytes). */
      blobKey: string;
      filename?: string;
      size: number;
      sha256?: string;
      inline?: boolean;
    }
  | { kind: 'url'; url: string; headers?: Record<string, string> }
  | { kind: 's3'; bucket: string; key: string; version?: string };

export interface CallbackTarget {
  url: string;
  headers: Record<string, string>;
}

export interface NewScanJob {
  id: string;
  tenantId: string;
  traceId?: string;
  dialect: Dialect;
  source: ScanSource;
  callback?: CallbackTarget;
  customData?: string;
  /** The content policy in force, resolved at submit (tenant's, narrowed by the request). Absent: default. */
  policy?: ContentPolicy;
  /**
   * A small upload's bytes, stored with the job (source.inline). Read back only when the job is
   * leased, and dropped when it completes.
   */
  uploadBytes?: Uint8Array;
}

/** The stored result of a finished job: the verdict plus everything needed to trust it. */
export interface ScanResult extends Verdict {
  status: VerdictStatus;
  reason?: UnscannableReason;
  size?: number;
  sha256?: string;
  engine?: string;
  engineVersion?: string;
  signatureVersion?: string;
  /** `clamav`, or `scangate-test` when the offline test database judged it (SIGNATURES=test). */
  signatureDatabase?: string;
  downloadTimeMs?: number;
  scanTimeMs?: number;
  /** True when the verdict came from the verdict cache (same bytes, same signatures). */
  cached?: boolean;
  /**
   * The type told by the content, whatever the name says: the same detection as `content.detectedType`
   * (src/policy/file-type.ts), as extension and media type; absent for unknown binary data and empty content.
   */
  fileType?: DetectedFileType;
  /** The name the content was submitted under (upload filename, URL or S3 key segment). */
  declaredName?: string;
  /** What scangate saw in the bytes, whatever the policy: true type and content findings. */
  content?: ContentInspection;
  /** The S3 object version whose bytes were scanned, as GetObject served it (S3 sources only). */
  s3Object?: ServedS3Object;
}

/**
 * What one GetObject served: bucket scans compare the ETag with what was listed (instead of asking
 * S3 again) and skip reading the tag set of an object that had no tags.
 */
export interface ServedS3Object {
  etag?: string;
  versionId?: string;
  /** x-amz-tagging-count, when S3 sent it: how many tags the object had when it was read. */
  tagCount?: number;
}

export type JobState = 'queued' | 'running' | 'done';

export interface ScanJob extends NewScanJob {
  state: JobState;
  attempts: number;
  createdAt: Date;
  startedAt?: Date;
  completedAt?: Date;
  nextAttemptAt: Date;
  lastError?: string;
  result?: ScanResult;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface NewCallbackDelivery {
  /** Standard Webhooks `webhook-id`: stable across every attempt of this delivery. */
  id: string;
  url: string;
  headers: Record<string, string>;
  /** The exact bytes POSTed on every attempt (signatures cover them). */
  body: string;
}

export interface CallbackDelivery extends NewCallbackDelivery {
  jobId: string;
  tenantId: string;
  state: DeliveryState;
  attempts: number;
  createdAt: Date;
  nextAttemptAt: Date;
  deliveredAt?: Date;
  lastError?: string;
  lastStatusCode?: number;
}

/** A callback that failed for good, with what its job scanned (for attachmentAV's failure list). */
export interface FailedDelivery extends CallbackDelivery {
  /** When the last attempt failed and the delivery was given up. */
  failedAt: Date;
  source: ScanSource;
}

export interface FailedDeliveryPage {
  deliveries: FailedDelivery[];
  /** Opaque: pass it back to get the next (older) page; absent on the last page. */
  nextCursor?: string;
}

export interface JobListFilter {
  status?: VerdictStatus | 'pending';
  limit: number;
  /** Only jobs created before this instant (pagination, newest first). */
  before?: Date;
}

export interface VerdictCounts {
  /** Start of the bucket (bucketSeconds wide). */
  bucketStart: Date;
  clean: number;
  infected: number;
  unscannable: number;
  blocked: number;
}

export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  /** SHA-256 hex of the key: the key itself is never stored. */
  keyHash: string;
  /** First characters of the key, for people to tell keys apart. */
  prefix: string;
  createdAt: Date;
  revokedAt?: Date;
}

import { ScanGateError } from '../errors.ts';
import type {
  ApiKeyRecord,
  CallbackDelivery,
  CallbackTarget,
  ContentPolicy,
  DeliveryState,
  Dialect,
  FailedDeliveryPage,
  JobListFilter,
  JobState,
  NewScanJob,
  ScanJob,
  ScanResult,
  ScanSource,
} from '../scan.ts';
import type { LeasedJob } from './contracts.ts';

/**
 * Row ↔ model mapping shared by both stores. They select the same columns; SQLite hands back times
 * as epoch milliseconds and JSON as text, PostgreSQL as Date and parsed jsonb, so both are accepted.
 */
type Time = number | Date;
type Json = string | object;

export const JOB_COLUMNS =
  'id, tenant_id, trace_id, dialect, source, callback, custom_data, state, attempts, created_at, ' +
  'started_at, completed_at, next_attempt_at, lease_token, last_error, result, policy';

/** A leased job also brings its inline upload, which no other read needs. */
export const LEASED_JOB_COLUMNS = `${JOB_COLUMNS}, upload_bytes`;

export const DELIVERY_COLUMNS =
  'id, job_id, tenant_id, url, headers, body, state, attempts, created_at, next_attempt_at, ' +
  'delivered_at, lease_token, last_error, last_status_code';

export const API_KEY_COLUMNS = 'id, tenant_id, key_hash, prefix, created_at, revoked_at';

/** The partial unique index that makes "one unfinished job per trace id" race-safe. */
export const UNFINISHED_TRACE_INDEX = 'jobs_unfinished_trace_idx';

export interface JobRow {
  id: string;
  tenant_id: string;
  trace_id: string | null;
  dialect: string;
  source: Json;
  callback: Json | null;
  custom_data: string | null;
  state: string;
  attempts: number;
  created_at: Time;
  started_at: Time | null;
  completed_at: Time | null;
  next_attempt_at: Time;
  lease_token: string | null;
  last_error: string | null;
  result: Json | null;
  policy: Json | null;
  /** Selected only by leases (LEASED_JOB_COLUMNS). */
  upload_bytes?: Uint8Array | null;
  /** Selected only by leases given a verdict cache key: the cached verdict of an upload's bytes. */
  cached_result?: Json | null;
}

export interface DeliveryRow {
  id: string;
  job_id: string;
  tenant_id: string;
  url: string;
  headers: Json;
  body: string;
  state: string;
  attempts: number;
  created_at: Time;
  next_attempt_at: Time;
  delivered_at: Time | null;
  lease_token: string | null;
  last_error: string | null;
  last_status_code: number | null;
}

export interface ApiKeyRow {
  id: string;
  tenant_id: string;
  key_hash: string;
  prefix: string;
  created_at: Time;
  revoked_at: Time | null;
}

export function toDate(value: Time): Date {
  return value instanceof Date ? value : new Date(value);
}

export function fromJson<T>(value: Json): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/**
 * A new job's values in the order both stores' INSERT names its columns: id, tenant_id, trace_id,
 * dialect, source, callback, custom_data, policy. Its inline upload is stored apart from these (a
 * column of its own on PostgreSQL, a table of its own on SQLite).
 */
export function newJobValues(job: NewScanJob): (string | null)[] {
  return [
    job.id,
    job.tenantId,
    job.traceId ?? null,
    job.dialect,
    JSON.stringify(job.source),
    job.callback ? JSON.stringify(job.callback) : null,
    job.customData ?? null,
    job.policy ? JSON.stringify(job.policy) : null,
  ];
}

export function jobFromRow(row: JobRow): ScanJob {
  const job: ScanJob = {
    id: row.id,
    tenantId: row.tenant_id,
    dialect: row.dialect as Dialect,
    source: fromJson<ScanSource>(row.source),
    state: row.state as JobState,
    attempts: row.attempts,
    createdAt: toDate(row.created_at),
    nextAttemptAt: toDate(row.next_attempt_at),
  };
  if (row.trace_id !== null) job.traceId = row.trace_id;
  if (row.callback !== null) job.callback = fromJson<CallbackTarget>(row.callback);
  if (row.custom_data !== null) job.customData = row.custom_data;
  if (row.started_at !== null) job.startedAt = toDate(row.started_at);
  if (row.completed_at !== null) job.completedAt = toDate(row.completed_at);
  if (row.last_error !== null) job.lastError = row.last_error;
  if (row.result !== null) job.result = fromJson<ScanResult>(row.result);
  if (row.policy !== null) job.policy = fromJson<ContentPolicy>(row.policy);
  if (row.upload_bytes) job.uploadBytes = row.upload_bytes;
  return job;
}

export function leasedJobFromRow(row: JobRow, leaseToken: string): LeasedJob {
  const job = jobFromRow(row);
  const leased: LeasedJob = { job, leaseToken, leaseExpiresAt: job.nextAttemptAt };
  if (row.cached_result) leased.cachedResult = fromJson<ScanResult>(row.cached_result);
  return leased;
}

export function deliveryFromRow(row: DeliveryRow): CallbackDelivery {
  const delivery: CallbackDelivery = {
    id: row.id,
    jobId: row.job_id,
    tenantId: row.tenant_id,
    url: row.url,
    headers: fromJson<Record<string, string>>(row.headers),
    body: row.body,
    state: row.state as DeliveryState,
    attempts: row.attempts,
    createdAt: toDate(row.created_at),
    nextAttemptAt: toDate(row.next_attempt_at),
  };
  if (row.delivered_at !== null) delivery.deliveredAt = toDate(row.delivered_at);
  if (row.last_error !== null) delivery.lastError = row.last_error;
  if (row.last_status_code !== null) delivery.lastStatusCode = row.last_status_code;
  return delivery;
}

/** A failed delivery row joined with its job's source; `next_attempt_at` holds when it failed. */
export interface FailedDeliveryRow extends DeliveryRow {
  seq: number | string;
  source: Json;
}

export function failedDeliveryPage(rows: FailedDeliveryRow[], limit: number): FailedDeliveryPage {
  const page: FailedDeliveryPage = {
    deliveries: rows.slice(0, limit).map((row) => ({
      ...deliveryFromRow(row),
      failedAt: toDate(row.next_attempt_at),
      source: fromJson<ScanSource>(row.source),
    })),
  };
  // One row more than asked for was read: it says whether an older page exists.
  if (rows.length > limit) page.nextCursor = String(rows[limit - 1]!.seq);
  return page;
}

/** A cursor is the seq of the last row of the previous page; anything else is refused. */
export function parseDeliveryCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  if (!/^\d{1,15}$/.test(cursor))
    throw new ScanGateError('invalid_request', 'cursor is not one this server gave out', {
      details: { field: 'cursor' },
    });
  return Number(cursor);
}

export function apiKeyFromRow(row: ApiKeyRow): ApiKeyRecord {
  const record: ApiKeyRecord = {
    id: row.id,
    tenantId: row.tenant_id,
    keyHash: row.key_hash,
    prefix: row.prefix,
    createdAt: toDate(row.created_at),
  };
  if (row.revoked_at !== null) record.revokedAt = toDate(row.revoked_at);
  return record;
}

/**
 * PostgreSQL cannot store U+0000 in text or jsonb while SQLite can; refusing it in both keeps the two
 * stores identical. Only client-controlled job fields can carry it.
 */
/** A job of a submitted batch refused for itself (the others are stored), not a failed transaction. */
export function isRefusedAlone(error: unknown): boolean {
  return (
    error instanceof ScanGateError &&
    (error.code === 'duplicate_trace_id' || error.code === 'invalid_request')
  );
}

/** Its text fields, that is: an inline upload's bytes are binary and may hold any byte. */
export function assertStorableJob({ uploadBytes: _binary, ...job }: NewScanJob): void {
  if (containsNul(job)) {
    throw new ScanGateError('invalid_request', 'scan requests cannot contain NUL characters');
  }
}

function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(containsNul);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).some(([key, item]) => key.includes('\u0000') || containsNul(item));
  }
  return false;
}

export function duplicateTraceIdError(job: NewScanJob, cause: unknown): ScanGateError {
  return new ScanGateError(
    'duplicate_trace_id',
    `a scan with trace_id "${job.traceId}" is already pending for this key`,
    { cause, details: { traceId: job.traceId } },
  );
}

export function duplicateApiKeyError(cause: unknown): ScanGateError {
  return new ScanGateError('invalid_request', 'an API key with this id or hash already exists', { cause });
}

/** countVerdicts buckets are aligned to the Unix epoch, in whole milliseconds. */
export function bucketMilliseconds(bucketSeconds: number): number {
  return Math.max(1, Math.round(bucketSeconds * 1000));
}

/** Largest page listJobs returns, whatever the caller asks for. */
export const MAX_LIST_LIMIT = 1000;

export function listLimit(filter: JobListFilter): number {
  return Math.max(1, Math.min(MAX_LIST_LIMIT, Math.floor(filter.limit)));
}

import type { BucketActionRecord, BucketActions, BucketObject, BucketScan } from '../bucket-scan.ts';

/** Row shapes of the bucket-scan tables and their mapping, shared by both dialects. */

export const SCAN_COLUMNS = `id, tenant_id, origin, bucket, prefix, since, actions, state, paused, cursor, listing_done,
  watch_interval_ms, next_pass_at, listed, bytes_listed, clean, infected, unscannable, other_verdicts, failed,
  skipped, rescans, bytes_settled, created_at, updated_at, finished_at, last_error`;

export const OBJECT_COLUMNS = `seq, scan_id, object_key, version_id, etag, size, job_id, state, scan_attempts, outcome,
  finding, actions, created_at, settled_at`;

export type Numeric = number | string;
export interface ScanRow {
  id: string;
  tenant_id: string;
  origin: BucketScan['origin'];
  bucket: string;
  prefix: string;
  since: Numeric | null;
  actions: string;
  state: BucketScan['state'];
  paused: Numeric;
  cursor: string | null;
  listing_done: Numeric;
  watch_interval_ms: Numeric | null;
  next_pass_at: Numeric | null;
  listed: Numeric;
  bytes_listed: Numeric;
  clean: Numeric;
  infected: Numeric;
  unscannable: Numeric;
  other_verdicts: Numeric;
  failed: Numeric;
  skipped: Numeric;
  rescans: Numeric;
  bytes_settled: Numeric;
  created_at: Numeric;
  updated_at: Numeric;
  finished_at: Numeric | null;
  last_error: string | null;
}

export interface ObjectRow {
  seq: Numeric;
  scan_id: string;
  object_key: string;
  version_id: string | null;
  etag: string | null;
  size: Numeric;
  job_id: string;
  state: BucketObject['state'];
  scan_attempts: Numeric;
  outcome: string | null;
  finding: string | null;
  actions: string;
  created_at: Numeric;
  settled_at: Numeric | null;
}

export function scanFromRow(row: ScanRow): BucketScan {
  const scan: BucketScan = {
    id: row.id,
    tenantId: row.tenant_id,
    origin: row.origin,
    bucket: row.bucket,
    prefix: row.prefix,
    actions: JSON.parse(row.actions) as BucketActions,
    state: row.state,
    paused: Number(row.paused) === 1,
    listingDone: Number(row.listing_done) === 1,
    counts: {
      listed: Number(row.listed),
      bytesListed: Number(row.bytes_listed),
      clean: Number(row.clean),
      infected: Number(row.infected),
      unscannable: Number(row.unscannable),
      otherVerdicts: Number(row.other_verdicts),
      failed: Number(row.failed),
      skipped: Number(row.skipped),
      rescans: Number(row.rescans),
      bytesSettled: Number(row.bytes_settled),
    },
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  };
  if (row.since !== null) scan.since = new Date(Number(row.since));
  if (row.cursor !== null) scan.cursor = row.cursor;
  if (row.watch_interval_ms !== null) scan.watchIntervalMs = Number(row.watch_interval_ms);
  if (row.next_pass_at !== null) scan.nextPassAt = new Date(Number(row.next_pass_at));
  if (row.finished_at !== null) scan.finishedAt = new Date(Number(row.finished_at));
  if (row.last_error !== null) scan.lastError = row.last_error;
  return scan;
}

export function objectFromRow(row: ObjectRow): BucketObject {
  const object: BucketObject = {
    seq: Number(row.seq),
    scanId: row.scan_id,
    key: row.object_key,
    size: Number(row.size),
    jobId: row.job_id,
    state: row.state,
    scanAttempts: Number(row.scan_attempts),
    actions: JSON.parse(row.actions) as BucketActionRecord[],
    createdAt: new Date(Number(row.created_at)),
  };
  if (row.version_id !== null) object.versionId = row.version_id;
  if (row.etag !== null) object.etag = row.etag;
  if (row.outcome !== null) object.outcome = row.outcome;
  if (row.finding !== null) object.finding = row.finding;
  if (row.settled_at !== null) object.settledAt = new Date(Number(row.settled_at));
  return object;
}

/** Which counter column an outcome increments. */
export function counterFor(outcome: string): string {
  switch (outcome) {
    case 'clean':
    case 'infected':
    case 'unscannable':
    case 'failed':
    case 'skipped':
      return outcome;
    default:
      return 'other_verdicts';
  }
}

import type { Static } from 'typebox';
import type { ScanJob, ScanResult } from '../jobs/model.ts';
import { policyDocument } from '../policy/policy.ts';
import type { NativeScan } from './schemas.ts';

export type BucketAvStatus = 'clean' | 'infected' | 'no';
export type BucketScanResult = 'pending' | 'failed' | 'completed_clean' | 'completed_infected';

/**
 * bucketAV has one word for "could not be judged": `no`. A content-policy refusal is shown as the
 * vendor shows malware — `infected` with a `Policy.*` finding — so existing clients refuse it.
 */
export function bucketAvStatus(result: ScanResult): BucketAvStatus {
  if (result.status === 'unscannable') return 'no';
  if (result.status === 'blocked') return 'infected';
  return result.status;
}

export interface BucketAvResultBody {
  status: BucketAvStatus;
  finding?: string;
  size?: number;
  /** attachmentAV's field, served by both vendor dialects: the type told by the content. */
  realfiletype?: string;
}

export function bucketAvResultBody(result: ScanResult): BucketAvResultBody {
  const body: BucketAvResultBody = { status: bucketAvStatus(result) };
  if ((result.status === 'infected' || result.status === 'blocked') && result.finding)
    body.finding = result.finding;
  if (result.size !== undefined) body.size = result.size;
  if (result.fileType) body.realfiletype = result.fileType.ext;
  return body;
}

export function bucketScanResult(job: ScanJob): BucketScanResult {
  if (job.state !== 'done' || !job.result) return 'pending';
  switch (job.result.status) {
    case 'clean':
      return 'completed_clean';
    case 'infected':
    case 'blocked':
      return 'completed_infected';
    case 'unscannable':
      return 'failed';
  }
}

const seconds = (ms: number | undefined): number | null => (ms === undefined ? null : Math.round(ms) / 1000);
const iso = (date: Date | undefined): string | null => (date ? date.toISOString() : null);

/** The native API's full view of a job. */
export function nativeJobBody(job: ScanJob): Static<typeof NativeScan> {
  const result = job.result;
  return {
    id: job.id,
    trace_id: job.traceId ?? null,
    status: result ? result.status : 'pending',
    finding: result?.finding ?? null,
    reason: result?.reason ?? null,
    detail: result?.detail ?? null,
    rule: result?.rule ?? null,
    evidence: result?.evidence ?? null,
    declared_name: result?.declaredName ?? null,
    detected_type: result?.content?.detectedType ?? null,
    realfiletype: result?.content?.typeLabel ?? null,
    content: result?.content
      ? result.content.findings.map((finding) => ({
          rule: finding.rule,
          detail: finding.detail,
          member: finding.member ?? null,
        }))
      : null,
    policy: job.policy ? { ...policyDocument(job.policy) } : null,
    size: result?.size ?? (job.source.kind === 'upload' ? job.source.size : null),
    sha256: result?.sha256 ?? null,
    engine: result?.engine ?? null,
    engine_version: result?.engineVersion ?? null,
    signature_version: result?.signatureVersion ?? null,
    signature_database: result?.signatureDatabase ?? null,
    cached: result?.cached ?? false,
    file_type: result?.fileType ? { ext: result.fileType.ext, mime: result.fileType.mime } : null,
    download_time: seconds(result?.downloadTimeMs),
    scan_time: seconds(result?.scanTimeMs),
    attempts: job.attempts,
    last_error: job.lastError ?? null,
    source: sourceView(job),
    custom_data: job.customData ?? null,
    created_at: job.createdAt.toISOString(),
    started_at: iso(job.startedAt),
    completed_at: iso(job.completedAt),
  };
}

function sourceView(job: ScanJob): Record<string, unknown> {
  const source = job.source;
  switch (source.kind) {
    case 'upload':
      return { kind: 'upload', filename: source.filename ?? null };
    case 'url':
      return { kind: 'url', url: source.url };
    case 's3':
      return { kind: 's3', bucket: source.bucket, key: source.key, version: source.version ?? null };
  }
}

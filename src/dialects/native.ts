import type { CallbackDeliveryView, NativeScan } from 'scangate/client';
import { policyDocument } from '../policy/policy.ts';
import type { CallbackDelivery, NewScanJob, ScanJob, ScanResult } from '../scan.ts';
import { type BucketAvCallback, bucketAvCallback, toSeconds } from './bucketav.ts';

/** Everything the native dialect puts on the wire: its job view and its callback body. */

/** The native callback: bucketAV's body plus scan_id, verdict, rule, evidence, reason and sha256. */
export interface NativeCallback extends BucketAvCallback {
  scan_id: string;
  /** `status` keeps bucketAV's words; `verdict` tells a policy refusal from malware. */
  verdict: ScanResult['status'];
  rule?: string;
  evidence?: string;
  reason?: string;
  sha256?: string;
}

export function nativeCallback(
  job: Pick<NewScanJob, 'id' | 'source' | 'traceId' | 'customData'>,
  result: ScanResult,
): NativeCallback {
  const payload: NativeCallback = {
    ...bucketAvCallback(job, result),
    scan_id: job.id,
    verdict: result.status,
  };
  if (result.rule !== undefined) payload.rule = result.rule;
  if (result.evidence !== undefined) payload.evidence = result.evidence;
  if (result.reason !== undefined) payload.reason = result.reason;
  if (result.sha256 !== undefined) payload.sha256 = result.sha256;
  return payload;
}

const seconds = (ms: number | undefined): number | null => (ms === undefined ? null : toSeconds(ms));
const iso = (date: Date | undefined): string | null => (date ? date.toISOString() : null);

/** Fields the client marks optional (older servers lack them) that this server always sends. */
type AlwaysSent = 'rule' | 'evidence' | 'declared_name' | 'detected_type' | 'realfiletype' | 'content';

/**
 * The native job view as this server builds it: the client's NativeScan with every field present
 * (the policy as the plain object the response schema declares).
 */
export type NativeJobView = Omit<NativeScan, 'policy'> & {
  [K in AlwaysSent]-?: Exclude<NativeScan[K], undefined>;
} & { policy: (Exclude<NativeScan['policy'], undefined | null> & Record<string, unknown>) | null };

/** The native API's full view of a job. */
export function nativeJobBody(job: ScanJob): NativeJobView {
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

function sourceView(job: ScanJob): NativeScan['source'] {
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

/** One callback delivery as the native job view lists it. */
export function deliveryView(delivery: CallbackDelivery): CallbackDeliveryView {
  return {
    webhook_id: delivery.id,
    url: delivery.url,
    state: delivery.state,
    attempts: delivery.attempts,
    last_status_code: delivery.lastStatusCode ?? null,
    last_error: delivery.lastError ?? null,
    next_attempt_at: delivery.state === 'pending' ? delivery.nextAttemptAt.toISOString() : null,
    delivered_at: delivery.deliveredAt?.toISOString() ?? null,
  };
}

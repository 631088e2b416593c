import { type Static, Type } from 'typebox';
import type { BucketActions, BucketObject, BucketScan } from '../bucket-scan.ts';
import { ScanGateError } from '../errors.ts';
import { bucketScanProgress } from '../jobs/buckets/progress.ts';

/** Request and response shapes of /v1/buckets/*, and the views of scans and objects in them. */

export const BucketName = Type.String({ minLength: 3, maxLength: 255 });
export const Prefix = Type.String({ maxLength: 1024 });

export const ActionsBody = Type.Object(
  {
    tag: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('scangate'), Type.Literal('bucketav')], {
        description: "scangate-status/-finding/-scanned-at tags, bucketAV's `bucketav` tag, or none",
      }),
    ),
    infected: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('delete'), Type.Literal('quarantine')], {
        description: 'what happens to an infected object',
      }),
    ),
    quarantine: Type.Optional(
      Type.String({
        minLength: 6,
        maxLength: 1100,
        description: 's3://bucket/prefix/ infected objects are moved to',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ScanBody = Type.Object(
  {
    bucket: BucketName,
    prefix: Type.Optional(Prefix),
    since: Type.Optional(
      Type.String({ format: 'date-time', description: 'only objects modified at or after' }),
    ),
    actions: Type.Optional(ActionsBody),
  },
  { additionalProperties: false },
);

export const WatchBody = Type.Object(
  {
    bucket: BucketName,
    prefix: Type.Optional(Prefix),
    interval_seconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
    actions: Type.Optional(ActionsBody),
  },
  { additionalProperties: false },
);

export const BucketScanView = Type.Object({
  id: Type.String(),
  kind: Type.String({ description: 'scan | watch | events' }),
  bucket: Type.String(),
  prefix: Type.String(),
  since: Type.Union([Type.String(), Type.Null()]),
  state: Type.String({ description: 'listing | scanning | paused | done | cancelled | failed | watching' }),
  actions: Type.Record(Type.String(), Type.Unknown()),
  listed: Type.Integer(),
  queued: Type.Integer(),
  clean: Type.Integer(),
  infected: Type.Integer(),
  unscannable: Type.Integer(),
  other: Type.Integer(),
  failed: Type.Integer(),
  skipped: Type.Integer(),
  rescans: Type.Integer(),
  bytes: Type.Integer(),
  bytes_scanned: Type.Integer(),
  rate: Type.Number({ description: 'objects per second' }),
  eta_seconds: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  finished_at: Type.Union([Type.String(), Type.Null()]),
});

export const ObjectView = Type.Object({
  key: Type.String(),
  version_id: Type.Union([Type.String(), Type.Null()]),
  etag: Type.Union([Type.String(), Type.Null()]),
  size: Type.Integer(),
  seq: Type.Integer(),
  state: Type.String(),
  status: Type.Union([Type.String(), Type.Null()]),
  finding: Type.Union([Type.String(), Type.Null()]),
  scan_id: Type.String({ description: 'the scan job: GET /v1/scans/{scan_id}' }),
  scans: Type.Integer(),
  actions: Type.Array(Type.Record(Type.String(), Type.Unknown())),
});

export function displayState(scan: BucketScan): string {
  if (scan.state !== 'running') return scan.state;
  if (scan.paused) return 'paused';
  if (scan.origin !== 'scan') return 'watching';
  return scan.listingDone ? 'scanning' : 'listing';
}

export function actionsView(actions: BucketActions): Record<string, unknown> {
  return {
    tag: actions.tag,
    infected: actions.infected,
    quarantine: actions.quarantine ? `s3://${actions.quarantine.bucket}/${actions.quarantine.prefix}` : null,
  };
}

export function bucketScanView(scan: BucketScan, now = new Date()): Static<typeof BucketScanView> {
  const progress = bucketScanProgress(scan, now);
  return {
    id: scan.id,
    kind: scan.origin,
    bucket: scan.bucket,
    prefix: scan.prefix,
    since: scan.since?.toISOString() ?? null,
    state: displayState(scan),
    actions: actionsView(scan.actions),
    listed: progress.listed,
    queued: progress.queued,
    clean: progress.clean,
    infected: progress.infected,
    unscannable: progress.unscannable,
    other: progress.other,
    failed: progress.failed,
    skipped: progress.skipped,
    rescans: progress.rescans,
    bytes: progress.bytes,
    bytes_scanned: progress.bytesSettled,
    rate: progress.rate,
    eta_seconds: progress.etaSeconds,
    error: scan.lastError ?? null,
    created_at: scan.createdAt.toISOString(),
    finished_at: scan.finishedAt?.toISOString() ?? null,
  };
}

export function bucketObjectView(object: BucketObject): Static<typeof ObjectView> {
  return {
    key: object.key,
    version_id: object.versionId ?? null,
    etag: object.etag ?? null,
    size: object.size,
    seq: object.seq,
    state: object.state,
    status: object.outcome ?? null,
    finding: object.finding ?? null,
    scan_id: object.jobId,
    scans: object.scanAttempts,
    actions: object.actions.map((action) => ({ ...action })),
  };
}

/** `s3://bucket/prefix` → its parts. */
export function parseS3Location(text: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]{3,255})(?:\/(.*))?$/.exec(text);
  if (!match) throw new ScanGateError('invalid_request', `"${text}" is not an s3://bucket/prefix location`);
  return { bucket: match[1]!, prefix: match[2] ?? '' };
}

export function actionsFrom(body: Static<typeof ActionsBody>, defaults: BucketActions): BucketActions {
  const actions: BucketActions = {
    tag: body.tag ?? defaults.tag,
    infected: body.infected ?? (body.quarantine ? 'quarantine' : defaults.infected),
  };
  const quarantine = body.quarantine ? parseS3Location(body.quarantine) : defaults.quarantine;
  if (quarantine) actions.quarantine = quarantine;
  return actions;
}

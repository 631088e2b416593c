import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { type Static, Type } from 'typebox';
import { ScanGateError } from '../../errors.ts';
import type { BucketScanService } from '../../jobs/buckets/bucket-scan-service.ts';
import type { BucketActions, BucketObject, BucketScan } from '../../jobs/buckets/model.ts';
import { bucketScanProgress } from '../../jobs/buckets/progress.ts';
import { ErrorResponse } from '../schemas.ts';

const tags = ['buckets'];
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
};

const BucketName = Type.String({ minLength: 3, maxLength: 255 });
const Prefix = Type.String({ maxLength: 1024 });

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

const ScanBody = Type.Object(
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

const WatchBody = Type.Object(
  {
    bucket: BucketName,
    prefix: Type.Optional(Prefix),
    interval_seconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
    actions: Type.Optional(ActionsBody),
  },
  { additionalProperties: false },
);

const BucketScanView = Type.Object({
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

const ObjectView = Type.Object({
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

function displayState(scan: BucketScan): string {
  if (scan.state !== 'running') return scan.state;
  if (scan.paused) return 'paused';
  if (scan.origin !== 'scan') return 'watching';
  return scan.listingDone ? 'scanning' : 'listing';
}

function actionsView(actions: BucketActions): Record<string, unknown> {
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

function actionsFrom(body: Static<typeof ActionsBody>, defaults: BucketActions): BucketActions {
  const actions: BucketActions = {
    tag: body.tag ?? defaults.tag,
    infected: body.infected ?? (body.quarantine ? 'quarantine' : defaults.infected),
  };
  const quarantine = body.quarantine ? parseS3Location(body.quarantine) : defaults.quarantine;
  if (quarantine) actions.quarantine = quarantine;
  return actions;
}

/** Bucket scans, watches, S3 event notifications and the tenant's default actions. */
export function bucketRoutes(buckets: BucketScanService): FastifyPluginAsync {
  return async (plugin) => {
    const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
    // SNS posts notifications as text/plain; only these routes read it (as JSON text).
    app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) => done(null, body));

    app.post(
      '/v1/buckets/scans',
      {
        schema: {
          tags,
          summary: 'Scan every object under a prefix of a bucket (ListObjectsV2, resumable)',
          body: ScanBody,
          response: { 202: BucketScanView, ...errors },
        },
      },
      async (request, reply) => {
        const tenant = request.tenant.id;
        const { bucket, prefix, since } = request.body;
        const actions = request.body.actions
          ? actionsFrom(request.body.actions, await buckets.actionsFor(tenant))
          : undefined;
        const scan = await buckets.startScan(tenant, {
          bucket,
          ...(prefix !== undefined ? { prefix } : {}),
          ...(since ? { since: new Date(since) } : {}),
          ...(actions ? { actions } : {}),
        });
        return reply.code(202).header('location', `/v1/buckets/scans/${scan.id}`).send(bucketScanView(scan));
      },
    );

    app.post(
      '/v1/buckets/watches',
      {
        schema: {
          tags,
          summary: 'List a prefix on an interval and scan what is new (stores that cannot send events)',
          body: WatchBody,
          response: { 202: BucketScanView, ...errors },
        },
      },
      async (request, reply) => {
        const tenant = request.tenant.id;
        const { bucket, prefix, interval_seconds: intervalSeconds } = request.body;
        const actions = request.body.actions
          ? actionsFrom(request.body.actions, await buckets.actionsFor(tenant))
          : undefined;
        const scan = await buckets.startWatch(tenant, {
          bucket,
          intervalMs: intervalSeconds * 1000,
          ...(prefix !== undefined ? { prefix } : {}),
          ...(actions ? { actions } : {}),
        });
        return reply.code(202).header('location', `/v1/buckets/scans/${scan.id}`).send(bucketScanView(scan));
      },
    );

    app.get(
      '/v1/buckets/scans',
      {
        schema: {
          tags,
          summary: 'Bucket scans, watches and event inboxes, newest first',
          querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }) }),
          response: { 200: Type.Object({ scans: Type.Array(BucketScanView) }), 401: ErrorResponse },
        },
      },
      async (request) => {
        const scans = await buckets.list(request.tenant.id, request.query.limit);
        const now = new Date();
        return { scans: scans.map((scan) => bucketScanView(scan, now)) };
      },
    );

    app.get(
      '/v1/buckets/scans/:id',
      {
        schema: {
          tags,
          summary: 'Progress of a bucket scan: listed, queued, verdicts, bytes, rate, ETA',
          params: Id,
          response: { 200: BucketScanView, ...errors },
        },
      },
      async (request) => bucketScanView(await buckets.get(request.tenant.id, request.params.id)),
    );

    app.get(
      '/v1/buckets/scans/:id/objects',
      {
        schema: {
          tags,
          summary: 'The objects of a bucket scan with their verdicts and actions, in listing order',
          params: Id,
          querystring: Type.Object({
            status: Type.Optional(Type.String({ maxLength: 32 })),
            after: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          }),
          response: { 200: Type.Object({ objects: Type.Array(ObjectView) }), ...errors },
        },
      },
      async (request) => {
        const { status, after, limit } = request.query;
        const objects = await buckets.objects(request.tenant.id, request.params.id, {
          limit,
          ...(status ? { outcome: status } : {}),
          ...(after !== undefined ? { after } : {}),
        });
        return { objects: objects.map(bucketObjectView) };
      },
    );

    for (const [verb, apply] of [
      ['pause', (tenant: string, id: string) => buckets.setPaused(tenant, id, true)],
      ['resume', (tenant: string, id: string) => buckets.setPaused(tenant, id, false)],
      ['cancel', (tenant: string, id: string) => buckets.cancel(tenant, id)],
    ] as const) {
      app.post(
        `/v1/buckets/scans/:id/${verb}`,
        {
          schema: {
            tags,
            summary: `${verb[0]!.toUpperCase()}${verb.slice(1)} a running bucket scan`,
            params: Id,
            response: { 200: BucketScanView, ...errors },
          },
        },
        async (request) => bucketScanView(await apply(request.tenant.id, request.params.id)),
      );
    }

    app.post(
      '/v1/buckets/events',
      {
        schema: {
          tags,
          summary:
            'S3 event notifications (S3/SQS/SNS Records, EventBridge, MinIO and Ceph webhooks): scan each created object once',
          response: {
            202: Type.Object({ queued: Type.Integer(), duplicates: Type.Integer(), ignored: Type.Integer() }),
            ...errors,
          },
        },
      },
      async (request, reply) => {
        // SNS posts its envelope as text/plain; fastify parses only JSON here, so the raw string is read too.
        const body = typeof request.body === 'string' ? parseJsonText(request.body) : request.body;
        return reply.code(202).send(await buckets.receiveNotification(request.tenant.id, body));
      },
    );

    app.get(
      '/v1/buckets/settings',
      {
        schema: {
          tags,
          summary: "The tenant's default actions (event notifications, watches, scans without actions)",
          response: {
            200: Type.Object({ actions: Type.Record(Type.String(), Type.Unknown()) }),
            401: ErrorResponse,
          },
        },
      },
      async (request) => ({ actions: actionsView(await buckets.actionsFor(request.tenant.id)) }),
    );

    app.put(
      '/v1/buckets/settings',
      {
        schema: {
          tags,
          summary: "Sets the tenant's default actions",
          body: Type.Object({ actions: ActionsBody }, { additionalProperties: false }),
          response: { 200: Type.Object({ actions: Type.Record(Type.String(), Type.Unknown()) }), ...errors },
        },
      },
      async (request) => {
        const tenant = request.tenant.id;
        const actions = actionsFrom(request.body.actions, await buckets.actionsFor(tenant));
        return { actions: actionsView(await buckets.setTenantActions(tenant, actions)) };
      },
    );
  };
}

function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ScanGateError('invalid_request', 'the notification body is not JSON');
  }
}

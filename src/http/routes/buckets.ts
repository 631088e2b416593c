import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { ScanGateError } from '../../errors.ts';
import type { BucketScanService } from '../../jobs/buckets/bucket-scan-service.ts';
import { isSnsEnvelope, parseSnsMessage } from '../../jobs/buckets/sns-message.ts';
import {
  ActionsBody,
  actionsFrom,
  actionsView,
  BucketScanView,
  bucketObjectView,
  bucketScanView,
  ObjectView,
  ScanBody,
  WatchBody,
} from '../bucket-views.ts';
import { ErrorResponse } from '../schemas.ts';
import type { SnsSubscriptions } from '../sns-subscriptions.ts';

const tags = ['buckets'];
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
};

/** Bucket scans, watches, S3 event notifications and the tenant's default actions. */
export function bucketRoutes(buckets: BucketScanService, sns: SnsSubscriptions): FastifyPluginAsync {
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
            200: Type.Object(
              { confirmed: Type.String() },
              { description: 'An SNS SubscriptionConfirmation: verified, its SubscribeURL fetched' },
            ),
            202: Type.Object({ queued: Type.Integer(), duplicates: Type.Integer(), ignored: Type.Integer() }),
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const tenant = request.tenant.id;
        // SNS posts its envelope as text/plain; fastify parses only JSON here, so the raw string is read too.
        const body = typeof request.body === 'string' ? parseJsonText(request.body) : request.body;
        if (isSnsEnvelope(body)) {
          if (body.Type === 'SubscriptionConfirmation') {
            const confirmed = await sns.confirm(tenant, parseSnsMessage(body));
            return reply.code(200).send({ confirmed });
          }
          // A tenant that named its SNS topics takes only signed messages from them.
          if (body.Type === 'Notification' && sns.hasTopics(tenant)) {
            await sns.verifyNotification(tenant, parseSnsMessage(body));
          }
        }
        return reply.code(202).send(await buckets.receiveNotification(tenant, body));
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

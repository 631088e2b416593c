import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { deliveryView, nativeJobBody } from '../../dialects/native.ts';
import { bucketObjectView } from '../bucket-views.ts';
import { requestedPolicy } from '../policy-request.ts';
import { logSubmitted } from '../request-id.ts';
import { asyncFields, s3Source, urlSource } from '../request-validation.ts';
import type { RouteContext } from '../route-context.ts';
import { ErrorResponse, NativeS3Body, NativeScan, NativeUrlBody } from '../schemas.ts';
import { singleFile } from '../uploads.ts';

const tags = ['native'];
const submitErrors = {
  400: ErrorResponse,
  401: ErrorResponse,
  409: ErrorResponse,
  413: ErrorResponse,
  415: ErrorResponse,
  429: ErrorResponse,
};

/** scangate's own API: every field of a result, and the state of its callback. */
export function nativeRoutes(context: RouteContext): FastifyPluginAsync {
  return async (plugin) => {
    const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
    const { scans } = context;

    app.post(
      '/v1/scans/file',
      {
        schema: {
          tags,
          summary:
            'Upload a file (multipart field "file"; optional fields trace_id, callback_url, custom_data, policy before it)',
          consumes: ['multipart/form-data'],
          response: { 202: NativeScan, ...submitErrors },
        },
      },
      async (request, reply) => {
        const upload = await singleFile(request, 'file');
        const fields = asyncFields(upload.fields, false, context.destinations);
        const job = await scans.submitUpload(request.tenant.id, upload.stream, {
          dialect: 'native',
          filename: upload.filename,
          policy: requestedPolicy(request, upload.fields.policy),
          ...fields,
        });
        logSubmitted(request, job);
        return reply.code(202).header('location', `/v1/scans/${job.id}`).send(nativeJobBody(job));
      },
    );

    app.post(
      '/v1/scans/url',
      {
        schema: {
          tags,
          summary: 'Download a URL and scan it',
          body: NativeUrlBody,
          response: { 202: NativeScan, ...submitErrors },
        },
      },
      async (request, reply) => {
        const source = urlSource(request.body.url, request.body.headers, 'url');
        const job = await scans.submit(request.tenant.id, {
          dialect: 'native',
          source,
          policy: requestedPolicy(request, request.body.policy),
          ...asyncFields(request.body, false, context.destinations),
        });
        logSubmitted(request, job);
        return reply.code(202).header('location', `/v1/scans/${job.id}`).send(nativeJobBody(job));
      },
    );

    app.post(
      '/v1/scans/s3',
      {
        schema: {
          tags,
          summary: 'Scan an S3 object',
          body: NativeS3Body,
          response: { 202: NativeScan, ...submitErrors },
        },
      },
      async (request, reply) => {
        const source = s3Source(request.body);
        const job = await scans.submit(request.tenant.id, {
          dialect: 'native',
          source,
          policy: requestedPolicy(request, request.body.policy),
          ...asyncFields(request.body, false, context.destinations),
        });
        logSubmitted(request, job);
        return reply.code(202).header('location', `/v1/scans/${job.id}`).send(nativeJobBody(job));
      },
    );

    app.get(
      '/v1/scans/:id',
      {
        schema: {
          tags,
          summary: 'Full result of a scan, with its callback deliveries',
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
          response: { 200: NativeScan, 401: ErrorResponse, 404: ErrorResponse },
        },
      },
      async (request) => {
        const job = await scans.getScan(request.tenant.id, request.params.id);
        const body = nativeJobBody(job);
        if (job.callback) {
          const deliveries = await scans.deliveriesOf(request.tenant.id, job.id);
          body.callback = { url: job.callback.url, deliveries: deliveries.map(deliveryView) };
        }
        if (job.source.kind === 's3' && context.bucketScans) {
          const object = await context.bucketScans.objectForJob(request.tenant.id, job.id);
          if (object) body.bucket_object = bucketObjectView(object);
        }
        return body;
      },
    );

    app.get(
      '/v1/scans',
      {
        schema: {
          tags,
          summary: 'Recent scans, newest first',
          querystring: Type.Object({
            status: Type.Optional(
              Type.Union([
                Type.Literal('pending'),
                Type.Literal('clean'),
                Type.Literal('infected'),
                Type.Literal('unscannable'),
                Type.Literal('blocked'),
              ]),
            ),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            before: Type.Optional(Type.String({ format: 'date-time' })),
          }),
          response: { 200: Type.Object({ scans: Type.Array(NativeScan) }), 401: ErrorResponse },
        },
      },
      async (request) => {
        const { status, limit, before } = request.query;
        const jobs = await scans.listScans(request.tenant.id, {
          limit,
          status,
          before: before ? new Date(before) : undefined,
        });
        return { scans: jobs.map(nativeJobBody) };
      },
    );

    app.get(
      '/v1/webhook-secret',
      {
        schema: {
          tags,
          summary: "The Standard Webhooks secret that signs this key's callbacks",
          response: { 200: Type.Object({ secret: Type.String() }), 401: ErrorResponse },
        },
      },
      async (request) => ({ secret: await context.webhookSecret(request.tenant.id) }),
    );
  };
}

import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { attachmentAvCallbackFailure } from '../../dialects/attachmentav.ts';
import { bucketAvResultBody } from '../../dialects/bucketav.ts';
import { ScanGateError } from '../../errors.ts';
import type { ScanJob } from '../../scan.ts';
import { notFound } from '../errors.ts';
import { answerExactJsonContentType } from '../exact-json-content-type.ts';
import { requestedPolicy } from '../policy-request.ts';
import { logSubmitted } from '../request-id.ts';
import { asyncFields, s3Source, urlSource } from '../request-validation.ts';
import { clientGoneSignal, type RouteContext } from '../route-context.ts';
import {
  AsyncDownloadBody,
  AsyncS3Body,
  BucketAvResult,
  ErrorResponse,
  SyncDownloadBody,
  SyncS3Body,
} from '../schemas.ts';
import { detachedRequestBody, singleFile } from '../uploads.ts';
import { acceptedReply, uploadVerdictOrRefusal } from './bucketav.ts';

const tags = ['attachmentAV'];
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  409: ErrorResponse,
  413: ErrorResponse,
  415: ErrorResponse,
  429: ErrorResponse,
  503: ErrorResponse,
};
const syncResponse = { 200: BucketAvResult, ...errors };
const FAILURES_PAGE = 50;

const CallbackFailure = Type.Object({
  id: Type.String(),
  time: Type.String({ format: 'date-time' }),
  download_url: Type.String(),
  callback_url: Type.String(),
  error_json: Type.String({ description: 'JSON: {error, status_code, attempts}' }),
});
const CallbackFailures = Type.Object({
  failures: Type.Array(CallbackFailure),
  next_cursor: Type.Optional(Type.String()),
});

/**
 * The attachmentAV dialect (the vendor's sister API, reference/attachmentav-api.yml): bucketAV's
 * bodies under `/v1/scan/…`, plus whoami and the failed-callback list, so the vendor's generated
 * SDKs work unchanged with their host pointed here. Its callbacks are also RSA-signed
 * (attachmentav-signing.ts). The native API's `/v1/scans/…` (plural) is a different path.
 */
export function attachmentAvRoutes(context: RouteContext): FastifyPluginAsync {
  return async (plugin) => {
    const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
    const { scans } = context;
    answerExactJsonContentType(plugin);
    const accepted = (request: FastifyRequest, reply: FastifyReply, job: ScanJob) =>
      acceptedReply(request, reply, job, context.publicUrl, '/v1/scan/async/result');

    app.get(
      '/v1/test',
      {
        schema: {
          tags,
          operationId: 'attachmentAvTest',
          summary: 'Check the API key',
          response: { 204: Type.Null(), 401: ErrorResponse },
        },
      },
      async (_request, reply) => reply.code(204).send(null),
    );

    app.get(
      '/v1/whoami',
      {
        schema: {
          tags,
          operationId: 'attachmentAvWhoami',
          summary: 'The tenant the API key belongs to',
          response: { 200: Type.Object({ tenantId: Type.String() }), 401: ErrorResponse },
        },
      },
      async (request) => ({ tenantId: request.tenant.id }),
    );

    app.get(
      '/v1/callback/failures',
      {
        schema: {
          tags,
          operationId: 'attachmentAvCallbackFailures',
          summary: "Callbacks to callback_url that failed for good (this key's tenant only), newest first",
          querystring: Type.Object({
            callback_url: Type.String({ minLength: 1, maxLength: 2048 }),
            cursor: Type.Optional(Type.String({ maxLength: 32 })),
          }),
          response: { 200: CallbackFailures, 400: ErrorResponse, 401: ErrorResponse },
        },
      },
      async (request) => {
        const page = await scans.failedCallbacks(
          request.tenant.id,
          normalizedCallbackUrl(request.query.callback_url),
          FAILURES_PAGE,
          request.query.cursor,
        );
        return {
          failures: page.deliveries.map(attachmentAvCallbackFailure),
          ...(page.nextCursor ? { next_cursor: page.nextCursor } : {}),
        };
      },
    );

    app.post(
      '/v1/scan/async/download',
      {
        schema: {
          tags,
          operationId: 'attachmentAvScanAsyncDownload',
          summary: 'Download a URL and scan it; the result by callback or polling',
          body: AsyncDownloadBody,
          response: errors,
        },
      },
      async (request, reply) => {
        const job = await scans.submit(request.tenant.id, {
          dialect: 'attachmentav',
          source: urlSource(request.body.download_url, request.body.download_headers, 'download_url'),
          policy: requestedPolicy(request),
          ...asyncFields(request.body, true, context.destinations),
        });
        logSubmitted(request, job);
        return accepted(request, reply, job);
      },
    );

    app.post(
      '/v1/scan/async/s3',
      {
        schema: {
          tags,
          operationId: 'attachmentAvScanAsyncS3',
          summary: 'Scan an S3 object; the result by callback or polling',
          body: AsyncS3Body,
          response: errors,
        },
      },
      async (request, reply) => {
        const job = await scans.submit(request.tenant.id, {
          dialect: 'attachmentav',
          source: s3Source(request.body),
          policy: requestedPolicy(request),
          ...asyncFields(request.body, true, context.destinations),
        });
        logSubmitted(request, job);
        return accepted(request, reply, job);
      },
    );

    app.get(
      '/v1/scan/async/result',
      {
        schema: {
          tags,
          operationId: 'attachmentAvScanAsyncResult',
          summary: 'Poll the result of an async scan (404 until it exists)',
          querystring: Type.Object({ trace_id: Type.String({ minLength: 1, maxLength: 256 }) }),
          response: { 200: BucketAvResult, 401: ErrorResponse, 404: ErrorResponse },
        },
      },
      async (request) => {
        const job = await scans.findByTraceId(request.tenant.id, request.query.trace_id);
        if (job?.state !== 'done' || !job.result) throw notFound('scan result');
        return bucketAvResultBody(job.result);
      },
    );

    app.post(
      '/v1/scan/sync/download',
      {
        schema: {
          tags,
          operationId: 'attachmentAvScanSyncDownload',
          summary: 'Download a URL, scan it, answer the verdict',
          body: SyncDownloadBody,
          response: syncResponse,
        },
      },
      async (request, reply) => {
        const scope = { tenantId: request.tenant.id, policy: requestedPolicy(request) };
        return bucketAvResultBody(
          await scans.scanSourceNow(
            urlSource(request.body.download_url, request.body.download_headers, 'download_url'),
            clientGoneSignal(reply),
            scope,
          ),
        );
      },
    );

    app.post(
      '/v1/scan/sync/s3',
      {
        schema: {
          tags,
          operationId: 'attachmentAvScanSyncS3',
          summary: 'Scan an S3 object, answer the verdict',
          body: SyncS3Body,
          response: syncResponse,
        },
      },
      async (request, reply) => {
        const source = s3Source(request.body);
        scans.checkGranted(request.tenant.id, source);
        const scope = { tenantId: request.tenant.id, policy: requestedPolicy(request) };
        return bucketAvResultBody(await scans.scanSourceNow(source, clientGoneSignal(reply), scope));
      },
    );

    app.post(
      '/v1/scan/sync/binary',
      {
        schema: {
          tags,
          operationId: 'attachmentAvScanSyncBinary',
          summary: 'Scan the request body (application/octet-stream)',
          consumes: ['application/octet-stream'],
          response: syncResponse,
        },
      },
      async (request, reply) => {
        if (!(request.body instanceof Readable))
          throw new ScanGateError('unsupported_media_type', 'send the file as application/octet-stream');
        const declared = Number(request.headers['content-length'] ?? Number.NaN);
        if (declared > context.maxFileSizeBytes)
          throw new ScanGateError('payload_too_large', 'file exceeds the maximum size');
        if (declared === 0) throw new ScanGateError('empty_file', 'the request body is empty');
        const result = await scans.scanStreamNow(
          detachedRequestBody(request.body, reply),
          clientGoneSignal(reply),
          { tenantId: request.tenant.id, policy: requestedPolicy(request) },
        );
        return bucketAvResultBody(uploadVerdictOrRefusal(result));
      },
    );

    app.post(
      '/v1/scan/sync/form',
      {
        schema: {
          tags,
          operationId: 'attachmentAvScanSyncForm',
          summary: 'Scan the multipart field "file"',
          consumes: ['multipart/form-data'],
          response: syncResponse,
        },
      },
      async (request, reply) => {
        const upload = await singleFile(request, 'file');
        const result = await scans.scanStreamNow(upload.stream, clientGoneSignal(reply), {
          tenantId: request.tenant.id,
          policy: requestedPolicy(request, upload.fields.policy),
          filename: upload.filename,
        });
        return bucketAvResultBody(uploadVerdictOrRefusal(result));
      },
    );
  };
}

/** Stored callback URLs are normalized (`new URL().href`): the filter is normalized the same way. */
function normalizedCallbackUrl(value: string): string {
  try {
    return new URL(value.trim()).href;
  } catch {
    throw new ScanGateError('invalid_request', 'callback_url is not a valid URL', {
      details: { field: 'callback_url' },
    });
  }
}

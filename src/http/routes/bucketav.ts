import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { bucketAvResultBody } from '../../dialects/bucketav.ts';
import { ScanGateError } from '../../errors.ts';
import type { ScanJob, ScanResult } from '../../scan.ts';
import { notFound } from '../errors.ts';
import { answerExactJsonContentType } from '../exact-json-content-type.ts';
import { requestedPolicy } from '../policy-request.ts';
import { absoluteUrl } from '../public-url.ts';
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

const tags = ['bucketAV'];
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  409: ErrorResponse,
  413: ErrorResponse,
  415: ErrorResponse,
};

/** With a callback: 204. Otherwise 201 and the absolute URL to poll, as the vendor's clients follow it. */
export function acceptedReply(
  request: FastifyRequest,
  reply: FastifyReply,
  job: ScanJob,
  publicUrl: string,
  resultPath: string,
): FastifyReply {
  if (job.callback) return reply.code(204).send();
  const location = absoluteUrl(
    request,
    publicUrl,
    `${resultPath}?trace_id=${encodeURIComponent(job.traceId ?? '')}`,
  );
  return reply.code(201).header('location', location).header('content-length', '0').send();
}

/** An upload cut off at the size limit is refused outright rather than answered `no`. */
export function uploadVerdictOrRefusal(result: ScanResult): ScanResult {
  if (result.status === 'unscannable' && result.reason === 'too_large')
    throw new ScanGateError('payload_too_large', result.detail ?? 'file exceeds the maximum size');
  if (result.size === 0) throw new ScanGateError('empty_file', 'the uploaded file is empty');
  return result;
}

/** The bucketAV dialect: async jobs with polling or callback, and the synchronous family. */
export function bucketAvRoutes(context: RouteContext): FastifyPluginAsync {
  return async (plugin) => {
    const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
    const { scans } = context;
    answerExactJsonContentType(plugin);
    const accepted = (request: FastifyRequest, reply: FastifyReply, job: ScanJob) =>
      acceptedReply(request, reply, job, context.publicUrl, '/api/v1/scan/async/result');

    app.get(
      '/api/v1/test',
      { schema: { tags, summary: 'Check the API key', response: { 204: Type.Null(), 401: ErrorResponse } } },
      async (_request, reply) => reply.code(204).send(null),
    );

    app.post(
      '/api/v1/scan/async/download',
      { schema: { tags, summary: 'Download a URL and scan it', body: AsyncDownloadBody, response: errors } },
      async (request, reply) => {
        const body = request.body;
        const source = urlSource(body.download_url, body.download_headers, 'download_url');
        const job = await scans.submit(request.tenant.id, {
          dialect: 'bucketav',
          source,
          policy: requestedPolicy(request),
          ...asyncFields(body, true, context.destinations),
        });
        logSubmitted(request, job);
        return accepted(request, reply, job);
      },
    );

    app.post(
      '/api/v1/scan/async/s3',
      { schema: { tags, summary: 'Scan an S3 object', body: AsyncS3Body, response: errors } },
      async (request, reply) => {
        const source = s3Source(request.body);
        const job = await scans.submit(request.tenant.id, {
          dialect: 'bucketav',
          source,
          policy: requestedPolicy(request),
          ...asyncFields(request.body, true, context.destinations),
        });
        logSubmitted(request, job);
        return accepted(request, reply, job);
      },
    );

    app.get(
      '/api/v1/scan/async/result',
      {
        schema: {
          tags,
          summary: 'Poll the result of an async scan (404 until it exists)',
          querystring: Type.Object({ trace_id: Type.String({ minLength: 1, maxLength: 256 }) }),
          response: { 200: BucketAvResult, 404: ErrorResponse },
        },
      },
      async (request) => {
        const job = await scans.findByTraceId(request.tenant.id, request.query.trace_id);
        if (job?.state !== 'done' || !job.result) throw notFound('scan result');
        return bucketAvResultBody(job.result);
      },
    );

    const syncResponse = { 200: BucketAvResult, ...errors, 503: ErrorResponse };

    app.post(
      '/api/v1/scan/sync/download',
      {
        schema: {
          tags,
          summary: 'Download a URL, scan it, answer the verdict',
          body: SyncDownloadBody,
          response: syncResponse,
        },
      },
      async (request, reply) => {
        const source = urlSource(request.body.download_url, request.body.download_headers, 'download_url');
        const scope = { tenantId: request.tenant.id, policy: requestedPolicy(request) };
        return bucketAvResultBody(await scans.scanSourceNow(source, clientGoneSignal(reply), scope));
      },
    );

    app.post(
      '/api/v1/scan/sync/s3',
      {
        schema: {
          tags,
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
      '/api/v1/scan/sync/binary',
      {
        schema: { tags, summary: 'Scan the request body (application/octet-stream)', response: syncResponse },
      },
      async (request, reply) => {
        // JSON and multipart bodies are parsed by their own parsers before this runs: only a raw
        // body is a file to scan here.
        if (!(request.body instanceof Readable))
          throw new ScanGateError('unsupported_media_type', 'expected an application/octet-stream body');
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
      '/api/v1/scan/sync/form',
      {
        schema: {
          tags,
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

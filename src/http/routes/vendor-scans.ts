import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import { bucketAvResultBody } from '../../dialects/bucketav.ts';
import { ScanGateError } from '../../errors.ts';
import type { Dialect, ScanJob, ScanResult } from '../../scan.ts';
import { notFound } from '../errors.ts';
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

type VendorOperation =
  | 'test'
  | 'asyncDownload'
  | 'asyncS3'
  | 'asyncResult'
  | 'syncDownload'
  | 'syncS3'
  | 'syncBinary'
  | 'syncForm';

export interface VendorScanRoutesOptions {
  /** `/api/v1` (bucketAV) or `/v1` (attachmentAV): the vendors' scan routes differ only by it. */
  prefix: string;
  dialect: Extract<Dialect, 'bucketav' | 'attachmentav'>;
  tags: string[];
  /** This dialect's documented error answers of the async submits. */
  errors: Record<number, TSchema>;
  /** The synchronous routes' answers: the verdict and the errors. */
  syncResponse: Record<number, TSchema>;
  /** Documented on the result route beside 200 and 404. */
  resultErrors?: Record<number, TSchema>;
  /** The names the vendor's generated SDKs call the operations by; otherwise derived (openapi.ts). */
  operationIds?: Record<VendorOperation, string>;
  /** Written into the binary route's schema so generators offer a raw-body parameter. */
  binaryConsumes?: string[];
}

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

/**
 * The scan routes bucketAV and its sister API attachmentAV share: the same bodies, answers and
 * verdict words under their own prefix. `/test`, async download/s3 with callback or polling, the
 * result poll, and the synchronous family.
 */
export function registerVendorScanRoutes(
  plugin: FastifyInstance,
  context: RouteContext,
  options: VendorScanRoutesOptions,
): void {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  const { scans } = context;
  const { prefix, dialect, tags, errors, syncResponse } = options;
  const resultPath = `${prefix}/scan/async/result`;
  const named = (operation: VendorOperation) =>
    options.operationIds ? { operationId: options.operationIds[operation] } : {};
  const accepted = (request: FastifyRequest, reply: FastifyReply, job: ScanJob) =>
    acceptedReply(request, reply, job, context.publicUrl, resultPath);
  const syncScope = (request: FastifyRequest) => ({
    tenantId: request.tenant.id,
    policy: requestedPolicy(request),
  });

  app.get(
    `${prefix}/test`,
    {
      schema: {
        tags,
        ...named('test'),
        summary: 'Check the API key',
        response: { 204: Type.Null(), 401: ErrorResponse },
      },
    },
    async (_request, reply) => reply.code(204).send(null),
  );

  app.post(
    `${prefix}/scan/async/download`,
    {
      schema: {
        tags,
        ...named('asyncDownload'),
        summary: 'Download a URL and scan it; the result by callback or polling',
        body: AsyncDownloadBody,
        response: errors,
      },
    },
    async (request, reply) => {
      const job = await scans.submit(request.tenant.id, {
        dialect,
        source: urlSource(request.body.download_url, request.body.download_headers, 'download_url'),
        policy: requestedPolicy(request),
        ...asyncFields(request.body, true, context.destinations),
      });
      logSubmitted(request, job);
      return accepted(request, reply, job);
    },
  );

  app.post(
    `${prefix}/scan/async/s3`,
    {
      schema: {
        tags,
        ...named('asyncS3'),
        summary: 'Scan an S3 object; the result by callback or polling',
        body: AsyncS3Body,
        response: errors,
      },
    },
    async (request, reply) => {
      const job = await scans.submit(request.tenant.id, {
        dialect,
        source: s3Source(request.body),
        policy: requestedPolicy(request),
        ...asyncFields(request.body, true, context.destinations),
      });
      logSubmitted(request, job);
      return accepted(request, reply, job);
    },
  );

  app.get(
    resultPath,
    {
      schema: {
        tags,
        ...named('asyncResult'),
        summary: 'Poll the result of an async scan (404 until it exists)',
        querystring: Type.Object({ trace_id: Type.String({ minLength: 1, maxLength: 256 }) }),
        response: { 200: BucketAvResult, ...options.resultErrors, 404: ErrorResponse },
      },
    },
    async (request) => {
      const job = await scans.findByTraceId(request.tenant.id, request.query.trace_id);
      if (job?.state !== 'done' || !job.result) throw notFound('scan result');
      return bucketAvResultBody(job.result);
    },
  );

  app.post(
    `${prefix}/scan/sync/download`,
    {
      schema: {
        tags,
        ...named('syncDownload'),
        summary: 'Download a URL, scan it, answer the verdict',
        body: SyncDownloadBody,
        response: syncResponse,
      },
    },
    async (request, reply) => {
      const source = urlSource(request.body.download_url, request.body.download_headers, 'download_url');
      return bucketAvResultBody(
        await scans.scanSourceNow(source, clientGoneSignal(reply), syncScope(request)),
      );
    },
  );

  app.post(
    `${prefix}/scan/sync/s3`,
    {
      schema: {
        tags,
        ...named('syncS3'),
        summary: 'Scan an S3 object, answer the verdict',
        body: SyncS3Body,
        response: syncResponse,
      },
    },
    async (request, reply) => {
      const source = s3Source(request.body);
      scans.checkGranted(request.tenant.id, source);
      return bucketAvResultBody(
        await scans.scanSourceNow(source, clientGoneSignal(reply), syncScope(request)),
      );
    },
  );

  app.post(
    `${prefix}/scan/sync/binary`,
    {
      schema: {
        tags,
        ...named('syncBinary'),
        summary: 'Scan the request body (application/octet-stream)',
        ...(options.binaryConsumes ? { consumes: options.binaryConsumes } : {}),
        response: syncResponse,
      },
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
        detachedRequestBody(request.raw),
        clientGoneSignal(reply),
        syncScope(request),
      );
      return bucketAvResultBody(uploadVerdictOrRefusal(result));
    },
  );

  app.post(
    `${prefix}/scan/sync/form`,
    {
      schema: {
        tags,
        ...named('syncForm'),
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
}

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { bucketScanResult } from '../../dialects/bucketscan.ts';
import { answerExactJsonContentType } from '../exact-json-content-type.ts';
import { requestedPolicy } from '../policy-request.ts';
import { logSubmitted } from '../request-id.ts';
import type { RouteContext } from '../route-context.ts';
import { BucketScanInitiated, BucketScanStatus, ErrorResponse } from '../schemas.ts';
import { singleFile } from '../uploads.ts';

const tags = ['Bucketscan'];

/** The Bucketscan dialect: multipart upload, then poll by scanId. */
export function bucketScanRoutes(context: RouteContext): FastifyPluginAsync {
  return async (plugin) => {
    const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
    answerExactJsonContentType(plugin);

    app.post(
      '/api/v1/scans/initiate',
      {
        schema: {
          tags,
          summary: 'Upload a file (multipart field "file") and start its scan',
          consumes: ['multipart/form-data'],
          response: {
            200: BucketScanInitiated,
            400: ErrorResponse,
            401: ErrorResponse,
            413: ErrorResponse,
            415: ErrorResponse,
          },
        },
      },
      async (request) => {
        const upload = await singleFile(request, 'file');
        const job = await context.scans.submitUpload(request.tenant.id, upload.stream, {
          dialect: 'bucketscan',
          filename: upload.filename,
          policy: requestedPolicy(request, upload.fields.policy),
        });
        logSubmitted(request, job);
        return { status: 200, message: `Successfully uploaded ${upload.filename}!`, scanId: job.id };
      },
    );

    app.get(
      '/api/v1/scans/:scanId',
      {
        schema: {
          tags,
          summary: 'Current result of a scan',
          params: Type.Object({ scanId: Type.String({ minLength: 1, maxLength: 64 }) }),
          response: { 200: BucketScanStatus, 401: ErrorResponse, 404: ErrorResponse },
        },
      },
      async (request) => {
        const job = await context.scans.getScan(request.tenant.id, request.params.scanId);
        return { status: 200, message: 'OK', scanId: job.id, scanResult: bucketScanResult(job) };
      },
    );
  };
}

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { attachmentAvCallbackFailure } from '../../dialects/attachmentav.ts';
import { ScanGateError } from '../../errors.ts';
import { answerExactJsonContentType } from '../exact-json-content-type.ts';
import type { RouteContext } from '../route-context.ts';
import { BucketAvResult, ErrorResponse } from '../schemas.ts';
import { registerVendorScanRoutes } from './vendor-scans.ts';

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

    registerVendorScanRoutes(plugin, context, {
      prefix: '/v1',
      dialect: 'attachmentav',
      tags,
      errors,
      syncResponse: { 200: BucketAvResult, ...errors },
      resultErrors: { 401: ErrorResponse },
      binaryConsumes: ['application/octet-stream'],
      operationIds: {
        test: 'attachmentAvTest',
        asyncDownload: 'attachmentAvScanAsyncDownload',
        asyncS3: 'attachmentAvScanAsyncS3',
        asyncResult: 'attachmentAvScanAsyncResult',
        syncDownload: 'attachmentAvScanSyncDownload',
        syncS3: 'attachmentAvScanSyncS3',
        syncBinary: 'attachmentAvScanSyncBinary',
        syncForm: 'attachmentAvScanSyncForm',
      },
    });
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

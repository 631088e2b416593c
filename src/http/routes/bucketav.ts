import type { FastifyPluginAsync } from 'fastify';
import { answerExactJsonContentType } from '../exact-json-content-type.ts';
import type { RouteContext } from '../route-context.ts';
import { BucketAvResult, ErrorResponse } from '../schemas.ts';
import { registerVendorScanRoutes } from './vendor-scans.ts';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  409: ErrorResponse,
  413: ErrorResponse,
  415: ErrorResponse,
};

/** The bucketAV dialect: async jobs with polling or callback, and the synchronous family. */
export function bucketAvRoutes(context: RouteContext): FastifyPluginAsync {
  return async (plugin) => {
    answerExactJsonContentType(plugin);
    registerVendorScanRoutes(plugin, context, {
      prefix: '/api/v1',
      dialect: 'bucketav',
      tags: ['bucketAV'],
      errors,
      syncResponse: { 200: BucketAvResult, ...errors, 503: ErrorResponse },
    });
  };
}

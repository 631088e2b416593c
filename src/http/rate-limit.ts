import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { ScanGateError } from '../errors.ts';

/**
 * Per-key request limits: counted per API key (not per IP, which NAT and proxies share), after
 * authentication, in Redis when several API nodes must share the counters, in memory otherwise.
 */
export async function registerRateLimit(
  app: FastifyInstance,
  config: Config,
  redis: Redis | undefined,
): Promise<void> {
  await app.register(fastifyRateLimit, {
    max: config.rateLimit.requestsPerMinute,
    timeWindow: 60_000,
    hook: 'preHandler',
    keyGenerator: (request) => request.tenant?.keyId ?? request.ip,
    nameSpace: 'scangate-rate-',
    ...(redis ? { redis } : {}),
    errorResponseBuilder: (_request, context) => {
      const error = new ScanGateError(
        'rate_limited',
        `rate limit of ${context.max} requests per minute exceeded`,
        {
          details: { retry_after_seconds: Math.ceil(context.ttl / 1000) },
        },
      );
      return Object.assign(error, { statusCode: context.statusCode });
    },
  });
}

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { RouteContext } from '../route-context.ts';
import { ErrorResponse } from '../schemas.ts';

const VerdictBucket = Type.Object({
  start: Type.String({ format: 'date-time' }),
  clean: Type.Integer(),
  infected: Type.Integer(),
  unscannable: Type.Integer(),
  blocked: Type.Integer({ description: 'refused by the content policy' }),
});

const ScanStats = Type.Object({
  hours: Type.Integer(),
  bucket_seconds: Type.Integer(),
  buckets: Type.Array(VerdictBucket),
  totals: Type.Object({
    clean: Type.Integer(),
    infected: Type.Integer(),
    unscannable: Type.Integer(),
    blocked: Type.Integer(),
  }),
  pending: Type.Integer({ description: 'scans of this key queued or running now' }),
});

/** GET /v1/stats: the tenant's verdicts over time, for the dashboard's chart. */
export function statsRoutes(context: RouteContext): FastifyPluginAsync {
  return async (plugin) => {
    const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
    app.get(
      '/v1/stats',
      {
        schema: {
          tags: ['native'],
          summary: 'Verdict counts per hour (per day beyond 48 hours) over the last `hours`',
          querystring: Type.Object({ hours: Type.Integer({ minimum: 1, maximum: 720, default: 24 }) }),
          response: { 200: ScanStats, 401: ErrorResponse },
        },
      },
      async (request) => {
        const { hours } = request.query;
        const stats = await context.scans.stats(request.tenant.id, hours);
        return {
          hours,
          bucket_seconds: stats.bucketSeconds,
          buckets: stats.buckets.map((bucket) => ({ ...bucket, start: bucket.start.toISOString() })),
          totals: stats.totals,
          pending: stats.pending,
        };
      },
    );
  };
}

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { VerdictCounts } from '../../jobs/model.ts';
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

export interface TimelineBucket {
  start: Date;
  clean: number;
  infected: number;
  unscannable: number;
  blocked: number;
}

/** Hourly buckets up to two days, daily beyond: a chart never has more than ~48 or ~30 bars. */
export function bucketSecondsFor(hours: number): number {
  return hours <= 48 ? 3600 : 86_400;
}

/**
 * Every bucket from the one holding `since` to the one holding `now`, zero-filled: the store only
 * answers buckets that have verdicts, and its buckets start at multiples of bucketSeconds.
 */
export function verdictTimeline(
  counts: VerdictCounts[],
  since: Date,
  now: Date,
  bucketSeconds: number,
): TimelineBucket[] {
  const width = bucketSeconds * 1000;
  const byStart = new Map(counts.map((count) => [count.bucketStart.getTime(), count]));
  const timeline: TimelineBucket[] = [];
  for (let start = Math.floor(since.getTime() / width) * width; start <= now.getTime(); start += width) {
    const count = byStart.get(start);
    timeline.push({
      start: new Date(start),
      clean: count?.clean ?? 0,
      infected: count?.infected ?? 0,
      unscannable: count?.unscannable ?? 0,
      blocked: count?.blocked ?? 0,
    });
  }
  return timeline;
}

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
        const bucketSeconds = bucketSecondsFor(hours);
        const now = new Date();
        const since = new Date(now.getTime() - hours * 3600_000);
        const tenantId = request.tenant.id;
        const [counts, pending] = await Promise.all([
          context.scans.store.countVerdicts(tenantId, since, bucketSeconds),
          context.scans.store.countUnfinishedJobs(tenantId),
        ]);
        const buckets = verdictTimeline(counts, since, now, bucketSeconds);
        const totals = { clean: 0, infected: 0, unscannable: 0, blocked: 0 };
        for (const bucket of buckets) {
          totals.clean += bucket.clean;
          totals.infected += bucket.infected;
          totals.unscannable += bucket.unscannable;
          totals.blocked += bucket.blocked;
        }
        return {
          hours,
          bucket_seconds: bucketSeconds,
          buckets: buckets.map((bucket) => ({ ...bucket, start: bucket.start.toISOString() })),
          totals,
          pending,
        };
      },
    );
  };
}

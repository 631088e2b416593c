import { BIG_TENANT } from './fill.ts';

/**
 * The store's hot statements, as src/store/<dialect>/jobs.ts sends them, with values like the bench's
 * own requests: EXPLAINed at the largest size to show each one is an index lookup or range scan.
 */
export interface HotQuery {
  name: string;
  sql: string;
  values: unknown[];
}

const HOUR_MS = 3_600_000;

export function hotQueries(dialect: 'sqlite' | 'postgres', now: number): HotQuery[] {
  const hourStart = Math.ceil((now - 24 * HOUR_MS) / HOUR_MS) * HOUR_MS;
  const columns = 'id, tenant_id, state, result, result_status, created_at';
  if (dialect === 'sqlite') {
    return [
      {
        name: 'lookup by id',
        sql: `SELECT ${columns} FROM jobs WHERE id = ? AND tenant_id = ?`,
        values: ['r-1000', BIG_TENANT],
      },
      {
        name: 'lookup by trace_id',
        sql: `SELECT ${columns} FROM jobs WHERE tenant_id = ? AND trace_id = ? ORDER BY seq DESC LIMIT 1`,
        values: [BIG_TENANT, 'tr-1000'],
      },
      {
        name: 'list, first page',
        sql: `SELECT ${columns} FROM jobs WHERE tenant_id = ? ORDER BY created_at DESC, seq DESC LIMIT ?`,
        values: [BIG_TENANT, 50],
      },
      {
        name: 'list, deep page',
        sql: `SELECT ${columns} FROM jobs WHERE tenant_id = ? AND created_at < ? ORDER BY created_at DESC, seq DESC LIMIT ?`,
        values: [BIG_TENANT, now - 20 * HOUR_MS, 50],
      },
      {
        name: 'stats: hourly counters',
        sql: `SELECT (hour_start / CAST(?1 AS INTEGER)) * CAST(?1 AS INTEGER) AS bucket, sum(clean), sum(infected),
            sum(unscannable), sum(blocked) FROM verdict_counts WHERE tenant_id = ?2 AND hour_start >= ?3
            GROUP BY bucket ORDER BY bucket`,
        values: [HOUR_MS, BIG_TENANT, hourStart],
      },
      {
        name: 'stats: the part-hour before the counters',
        sql: `SELECT (completed_at / CAST(?1 AS INTEGER)) * CAST(?1 AS INTEGER) AS bucket,
            sum(result_status = 'clean'), sum(result_status = 'infected')
          FROM jobs WHERE tenant_id = ?2 AND state = 'done' AND completed_at >= ?3 AND completed_at < ?4
          GROUP BY bucket ORDER BY bucket`,
        values: [HOUR_MS, BIG_TENANT, now - 24 * HOUR_MS, hourStart],
      },
      {
        name: 'stats: pending count',
        sql: `SELECT (SELECT count(*) FROM jobs WHERE tenant_id = ?1 AND state = 'queued')
            + coalesce((SELECT running FROM tenant_queue WHERE tenant_id = ?1), 0) AS n`,
        values: [BIG_TENANT],
      },
      {
        name: 'claim: an expired lease to take back',
        sql: `SELECT seq FROM jobs WHERE state = 'running' AND next_attempt_at <= ?
            ORDER BY next_attempt_at, seq LIMIT 1`,
        values: [now],
      },
      {
        name: 'claim: the tenant (fewest running, oldest due) from tenant_queue',
        sql: `SELECT tenant_id FROM tenant_queue WHERE next_due <= ?1 AND (?2 = 0 OR running < ?2)
            ORDER BY running, next_due, tenant_id LIMIT 1`,
        values: [now, 0],
      },
      {
        name: 'claim: the oldest due job of the chosen tenant',
        sql: `SELECT seq FROM jobs WHERE tenant_id = ? AND state = 'queued' AND next_attempt_at <= ?
            ORDER BY next_attempt_at, seq LIMIT 1`,
        values: ['tenant-7', now],
      },
      {
        name: 'sweep: one batch of expired results',
        sql: `SELECT id FROM jobs j WHERE j.state = 'done' AND j.completed_at < ?
            AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.job_id = j.id AND p.state = 'pending')
            ORDER BY j.completed_at LIMIT ?`,
        values: [now - 24 * HOUR_MS, 1000],
      },
    ];
  }
  const at = (ms: number) => new Date(ms).toISOString();
  return [
    {
      name: 'lookup by id',
      sql: `SELECT ${columns} FROM jobs WHERE id = $1 AND tenant_id = $2`,
      values: ['r-1000', BIG_TENANT],
    },
    {
      name: 'lookup by trace_id',
      sql: `SELECT ${columns} FROM jobs WHERE tenant_id = $1 AND trace_id = $2 ORDER BY seq DESC LIMIT 1`,
      values: [BIG_TENANT, 'tr-1000'],
    },
    {
      name: 'list, first page',
      sql: `SELECT ${columns} FROM jobs WHERE tenant_id = $1 ORDER BY created_at DESC, seq DESC LIMIT $2`,
      values: [BIG_TENANT, 50],
    },
    {
      name: 'list, deep page',
      sql: `SELECT ${columns} FROM jobs WHERE tenant_id = $1 AND created_at < $2 ORDER BY created_at DESC, seq DESC LIMIT $3`,
      values: [BIG_TENANT, at(now - 20 * HOUR_MS), 50],
    },
    {
      name: 'stats: hourly counters',
      sql: `SELECT (hour_start / $1::bigint) * $1::bigint AS bucket, sum(clean), sum(infected), sum(unscannable),
          sum(blocked) FROM verdict_counts WHERE tenant_id = $2 AND hour_start >= $3::bigint GROUP BY 1 ORDER BY 1`,
      values: [HOUR_MS, BIG_TENANT, hourStart],
    },
    {
      name: 'stats: the part-hour before the counters',
      sql: `SELECT floor(extract(epoch FROM completed_at) * 1000 / $1::bigint)::bigint * $1::bigint AS bucket,
          count(*) FILTER (WHERE result_status = 'clean'), count(*) FILTER (WHERE result_status = 'infected')
        FROM jobs WHERE tenant_id = $2 AND state = 'done' AND completed_at >= $3 AND completed_at < $4
        GROUP BY 1 ORDER BY 1`,
      values: [HOUR_MS, BIG_TENANT, at(now - 24 * HOUR_MS), at(hourStart)],
    },
    {
      name: 'stats: pending count',
      sql: "SELECT count(*)::integer AS n FROM jobs WHERE tenant_id = $1 AND state <> 'done'",
      values: [BIG_TENANT],
    },
    {
      name: 'claim: an expired lease to take back',
      sql: `SELECT seq FROM jobs WHERE state = 'running' AND next_attempt_at <= now()
          ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
      values: [],
    },
    {
      name: 'claim: live leases per tenant',
      sql: `SELECT tenant_id, count(*)::integer AS running FROM jobs
          WHERE state = 'running' AND next_attempt_at > now() GROUP BY tenant_id`,
      values: [],
    },
    {
      name: 'claim: the oldest due tenant with nothing running, from tenant_queue',
      sql: `SELECT q.tenant_id FROM tenant_queue q
          WHERE q.next_due <= now() AND q.tenant_id NOT IN (SELECT tenant_id FROM jobs
              WHERE state = 'running' AND next_attempt_at > now())
            AND (SELECT true FROM jobs d WHERE d.tenant_id = q.tenant_id AND d.state = 'queued'
              AND d.next_attempt_at <= now() LIMIT 1)
          ORDER BY q.next_due, q.tenant_id LIMIT 1 FOR UPDATE SKIP LOCKED`,
      values: [],
    },
    {
      name: 'claim: the oldest due job of the chosen tenant',
      sql: `SELECT seq FROM jobs WHERE tenant_id = $1 AND state = 'queued' AND next_attempt_at <= now()
          ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
      values: ['tenant-7'],
    },
    {
      name: 'sweep: one batch of expired results',
      sql: `SELECT id FROM jobs j WHERE j.state = 'done' AND j.completed_at < $1
          AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.job_id = j.id AND p.state = 'pending')
          ORDER BY j.completed_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
      values: [at(now - 24 * HOUR_MS), 5000],
    },
  ];
}

import { createHash, randomUUID } from 'node:crypto';
import type {
  JobListFilter,
  NewCallbackDelivery,
  NewScanJob,
  ScanJob,
  ScanResult,
  VerdictCounts,
} from '../../scan.ts';
import type { JobCompletion, JobQueueStore, LeasedJob, LeaseOptions, SubmitOutcome } from '../contracts.ts';
import { restAsLongAs } from '../rest.ts';
import {
  assertStorableJob,
  bucketMilliseconds,
  duplicateTraceIdError,
  isRefusedAlone,
  JOB_COLUMNS,
  type JobRow,
  jobFromRow,
  LEASED_JOB_COLUMNS,
  leasedJobFromRow,
  listLimit,
  newJobValues,
  UNFINISHED_TRACE_INDEX,
} from '../rows.ts';
import {
  mergeVerdictCounts,
  type VerdictCountRow,
  verdictCountsFromRow,
  verdictWindow,
} from '../verdict-window.ts';
import { isUniqueViolation, type PostgresDatabase } from './database.ts';
import { cachedVerdictCte, cachedVerdictsUpsert } from './verdicts.ts';
import type { PostgresWorkNotifications } from './work-notifications.ts';

/** Rows one retention transaction deletes (with their deliveries and counter updates). */
const SWEEP_BATCH_ROWS = 1000;

/** `now() + n ms` for a numeric parameter. */
const plusMs = (parameter: string) => `now() + ${parameter}::double precision * interval '1 millisecond'`;

/**
 * The job queue on PostgreSQL, shared by any number of API and worker nodes. Leases are claimed
 * with FOR UPDATE SKIP LOCKED, so concurrent workers never wait on each other's row and never claim
 * the same one. Times come from the database clock (now()), the one clock all nodes share; instants
 * passed in by callers (retryAt, since, before) are compared against it as given.
 */
export class PostgresJobQueue implements JobQueueStore {
  readonly #db: PostgresDatabase;
  readonly #notifications: PostgresWorkNotifications;

  constructor(db: PostgresDatabase, notifications: PostgresWorkNotifications) {
    this.#db = db;
    this.#notifications = notifications;
  }

  async submit(job: NewScanJob): Promise<ScanJob> {
    assertStorableJob(job);
    try {
      const { rows } = await this.#db.query<JobRow>(
        `INSERT INTO ${this.#db.tables.jobs} (id, tenant_id, trace_id, dialect, source, callback, custom_data,
           policy, upload_bytes, state, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', now())
         RETURNING ${JOB_COLUMNS}, pg_notify($10, $11)`,
        [...insertValues(job), this.#notifications.channel('jobs'), this.#notifications.origin],
      );
      return jobFromRow(rows[0]!);
    } catch (error) {
      if (isUniqueViolation(error, UNFINISHED_TRACE_INDEX)) throw duplicateTraceIdError(job, error);
      throw error;
    }
  }

  async submitMany(jobs: readonly NewScanJob[]): Promise<SubmitOutcome[]> {
    const outcomes: (SubmitOutcome | undefined)[] = jobs.map((job) => {
      try {
        assertStorableJob(job);
        return undefined;
      } catch (error) {
        if (isRefusedAlone(error)) return { error };
        throw error;
      }
    });
    const storable = jobs.filter((_, index) => outcomes[index] === undefined);
    if (storable.length > 0) {
      const values: unknown[] = [this.#notifications.channel('jobs'), this.#notifications.origin];
      const tuples = storable.map((job) => {
        const first = values.length + 1;
        const row = insertValues(job);
        values.push(...row);
        const parameters = row.map((_, offset) => `$${first + offset}`);
        return `(${parameters.join(', ')}, 'queued', now())`;
      });
      // One statement, one commit for the batch. A row that meets an unfinished job with its trace
      // id (or an earlier row of the batch) is skipped, not an error, so it refuses only itself.
      const { rows } = await this.#db.query<JobRow>(
        `INSERT INTO ${this.#db.tables.jobs} (id, tenant_id, trace_id, dialect, source, callback, custom_data,
           policy, upload_bytes, state, next_attempt_at)
         VALUES ${tuples.join(', ')}
         ON CONFLICT DO NOTHING
         RETURNING ${JOB_COLUMNS}, pg_notify($1, $2)`,
        values,
      );
      const stored = new Map(rows.map((row) => [row.id, jobFromRow(row)]));
      jobs.forEach((job, index) => {
        if (outcomes[index]) return;
        const found = stored.get(job.id);
        outcomes[index] = found ? { job: found } : { error: duplicateTraceIdError(job, undefined) };
      });
    }
    return outcomes as SubmitOutcome[];
  }

  async get(tenantId: string, jobId: string): Promise<ScanJob | undefined> {
    const { rows } = await this.#db.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM ${this.#db.tables.jobs} WHERE id = $1 AND tenant_id = $2`,
      [jobId, tenantId],
    );
    return rows[0] && jobFromRow(rows[0]);
  }

  async getByTraceId(tenantId: string, traceId: string): Promise<ScanJob | undefined> {
    const { rows } = await this.#db.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM ${this.#db.tables.jobs} WHERE tenant_id = $1 AND trace_id = $2
       ORDER BY seq DESC LIMIT 1`,
      [tenantId, traceId],
    );
    return rows[0] && jobFromRow(rows[0]);
  }

  async list(tenantId: string, filter: JobListFilter): Promise<ScanJob[]> {
    const values: unknown[] = [tenantId];
    const conditions = ['tenant_id = $1'];
    if (filter.status === 'pending') conditions.push("state <> 'done'");
    else if (filter.status) {
      values.push(filter.status);
      conditions.push("state = 'done'", `result_status = $${values.length}`);
    }
    if (filter.before) {
      values.push(filter.before);
      conditions.push(`created_at < $${values.length}`);
    }
    values.push(listLimit(filter));
    const { rows } = await this.#db.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM ${this.#db.tables.jobs} WHERE ${conditions.join(' AND ')}
       ORDER BY created_at DESC, seq DESC LIMIT $${values.length}`,
      values,
    );
    return rows.map(jobFromRow);
  }

  async countVerdicts(tenantId: string, since: Date, bucketSeconds: number): Promise<VerdictCounts[]> {
    const bucketMs = bucketMilliseconds(bucketSeconds);
    const window = verdictWindow(since, bucketMs);
    if (!window) return this.#countFinished(tenantId, since.getTime(), undefined, bucketMs);
    const [counters, partial] = await Promise.all([
      this.#countersSince(tenantId, window.countersFrom, bucketMs),
      window.partialFrom < window.countersFrom
        ? this.#countFinished(tenantId, window.partialFrom, window.countersFrom, bucketMs)
        : [],
    ]);
    return mergeVerdictCounts(counters, partial);
  }

  async #countersSince(tenantId: string, from: number, bucketMs: number): Promise<VerdictCounts[]> {
    const { rows } = await this.#db.query<VerdictCountRow>(
      `SELECT (hour_start / $1::bigint) * $1::bigint AS bucket, sum(clean) AS clean,
         sum(infected) AS infected, sum(unscannable) AS unscannable, sum(blocked) AS blocked
       FROM ${this.#db.tables.verdictCounts} WHERE tenant_id = $2 AND hour_start >= $3::bigint
       GROUP BY 1 ORDER BY 1`,
      [bucketMs, tenantId, from],
    );
    return rows.map(verdictCountsFromRow);
  }

  /** Counts finished jobs from the table: the part-hour before the counters, or odd bucket widths. */
  async #countFinished(
    tenantId: string,
    from: number,
    until: number | undefined,
    bucketMs: number,
  ): Promise<VerdictCounts[]> {
    // Two statement texts, not `$4 IS NULL OR …`: a generic plan (plan_cache_mode) must see the upper
    // bound to choose the tenant's completion index for the part-hour.
    const bounded = until === undefined ? '' : 'AND completed_at < $4';
    const { rows } = await this.#db.query<VerdictCountRow>(
      `SELECT floor(extract(epoch FROM completed_at) * 1000 / $1::bigint)::bigint * $1::bigint AS bucket,
         count(*) FILTER (WHERE result_status = 'clean') AS clean,
         count(*) FILTER (WHERE result_status = 'infected') AS infected,
         count(*) FILTER (WHERE result_status = 'unscannable') AS unscannable,
         count(*) FILTER (WHERE result_status = 'blocked') AS blocked
       FROM ${this.#db.tables.jobs} WHERE tenant_id = $2 AND state = 'done' AND completed_at >= $3 ${bounded}
       GROUP BY 1 ORDER BY 1`,
      until === undefined
        ? [bucketMs, tenantId, new Date(from)]
        : [bucketMs, tenantId, new Date(from), new Date(until)],
    );
    return rows.map(verdictCountsFromRow);
  }

  async countUnfinished(tenantId?: string): Promise<number> {
    const { rows } =
      tenantId === undefined
        ? await this.#db.query<{ n: number }>(
            `SELECT count(*)::integer AS n FROM ${this.#db.tables.jobs} WHERE state <> 'done'`,
          )
        : await this.#db.query<{ n: number }>(
            `SELECT count(*)::integer AS n FROM ${this.#db.tables.jobs} WHERE tenant_id = $1 AND state <> 'done'`,
            [tenantId],
          );
    return rows[0]!.n;
  }

  async unfinishedIds(jobIds: readonly string[]): Promise<Set<string>> {
    const { rows } = await this.#db.query<{ id: string }>(
      `SELECT id FROM ${this.#db.tables.jobs} WHERE id = ANY($1::text[]) AND state <> 'done'`,
      [jobIds],
    );
    return new Set(rows.map((row) => row.id));
  }

  async lease(leaseMs: number, options: LeaseOptions = {}): Promise<LeasedJob | undefined> {
    return this.#leaseOne((sql, values, name) => this.#db.query<JobRow>(sql, values, name), leaseMs, options);
  }

  async leaseMany(leaseMs: number, max: number, options: LeaseOptions = {}): Promise<LeasedJob[]> {
    if (max <= 1) {
      const leased = await this.lease(leaseMs, options);
      return leased ? [leased] : [];
    }
    // One transaction, one pick at a time: each pick sees the ones before it as running (now() is
    // the transaction's start), so the batch is exactly the sequence single leases would make.
    return this.#db.transaction(async (client) => {
      const leased: LeasedJob[] = [];
      while (leased.length < max) {
        const next = await this.#leaseOne(
          (text, values, name) => client.query<JobRow>({ name, text, values }),
          leaseMs,
          options,
        );
        if (!next) break;
        leased.push(next);
      }
      return leased;
    });
  }

  /**
   * One lease. An expired lease (its worker died) is taken back first, whatever its tenant's count.
   * Else the tenant: live leases are counted per tenant (as many rows as worker slots busy), the
   * oldest due tenant with none running goes first (tenant_queue in next_due order, kept by the
   * triggers of migration 007), else the tenant with fewest running, then oldest due; then that
   * tenant's oldest due job. Index lookups and a count of live leases, however many tenants queue.
   *
   * A lease never waits for a lock, so it can close no deadlock (007_tenant_queue.sql has the
   * order). Job rows are taken with SKIP LOCKED. The tenant's row is taken with SKIP LOCKED too: a
   * tenant another lease or a submit holds right now is passed over for the next one, as the next
   * free worker would be; only when every candidate is held is the best one taken without its row,
   * and then its trigger leaves next_due early (allowed) instead of waiting for the row.
   */
  async #leaseOne(
    query: (sql: string, values: unknown[], name: string) => Promise<{ rows: JobRow[] }>,
    leaseMs: number,
    options: LeaseOptions,
  ): Promise<LeasedJob | undefined> {
    const leaseToken = randomUUID();
    const { jobs, tenantQueue } = this.#db.tables;
    // next_due may be early (see 007): a candidate must have a due job now. Written as a scalar
    // subquery with LIMIT, and live leases as NOT IN, which the planner keeps as per-row filters of
    // the scan in next_due order: as EXISTS and NOT EXISTS it may turn them into joins that first hash
    // every due job of every tenant.
    const hasDueJob = `(SELECT true FROM ${jobs} d WHERE d.tenant_id = q.tenant_id AND d.state = 'queued'
      AND d.next_attempt_at <= now() LIMIT 1)`;
    const idle = (lock: string) => `SELECT q.tenant_id FROM ${tenantQueue} q
      WHERE q.next_due <= now() AND q.tenant_id NOT IN (SELECT tenant_id FROM live) AND ${hasDueJob}
      ORDER BY q.next_due, q.tenant_id LIMIT 1 ${lock}`;
    const busy = (
      lock: string,
    ) => `SELECT q.tenant_id FROM ${tenantQueue} q JOIN live ON live.tenant_id = q.tenant_id
      WHERE q.next_due <= now() AND ($3::integer = 0 OR live.running < $3::integer) AND ${hasDueJob}
      ORDER BY live.running, q.next_due, q.tenant_id LIMIT 1 ${lock}`;
    // coalesce() evaluates its subqueries in order and stops at the first non-NULL: the tenant pick
    // runs only without an expired lease, and the unlocked pick only when every candidate is held.
    const tenant = `coalesce((SELECT tenant_id FROM idle_free), (SELECT tenant_id FROM busy_free),
      (SELECT tenant_id FROM idle_held), (SELECT tenant_id FROM busy_held))`;
    const { rows } = await query(
      `WITH expired AS (
         SELECT seq FROM ${jobs} WHERE state = 'running' AND next_attempt_at <= now()
         ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED
       ),
       live AS (
         SELECT tenant_id, count(*)::integer AS running FROM ${jobs}
         WHERE state = 'running' AND next_attempt_at > now() GROUP BY tenant_id
       ),
       idle_free AS (${idle('FOR UPDATE SKIP LOCKED')}),
       busy_free AS (${busy('FOR UPDATE OF q SKIP LOCKED')}),
       idle_held AS (${idle('')}),
       busy_held AS (${busy('')}),
       oldest_queued AS (
         SELECT seq FROM ${jobs} WHERE tenant_id = ${tenant} AND state = 'queued' AND next_attempt_at <= now()
         ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED
       )
       UPDATE ${jobs} SET state = 'running', lease_token = $1, attempts = attempts + 1,
         started_at = now(), next_attempt_at = ${plusMs('$2')}
       WHERE seq = coalesce((SELECT seq FROM expired), (SELECT seq FROM oldest_queued))
       RETURNING ${LEASED_JOB_COLUMNS},
         (SELECT v.result FROM ${this.#db.tables.verdictCache} v
           WHERE $4::text <> '' AND v.signature_version = $4::text AND v.sha256 = source->>'sha256'
             AND source->>'kind' = 'upload') AS cached_result`,
      [leaseToken, leaseMs, options.maxRunningPerTenant ?? 0, options.verdictCacheKey ?? ''],
      // Named per schema: the statement text names this store's tables.
      `lease-next-job-${createHash('sha256').update(jobs).digest('hex').slice(0, 12)}`,
    );
    if (!rows[0]) return undefined;
    return leasedJobFromRow(rows[0], leaseToken);
  }

  async extendLease(jobId: string, leaseToken: string, leaseMs: number): Promise<boolean> {
    return this.#db.updateLeased('jobs', jobId, leaseToken, `next_attempt_at = ${plusMs('$3')}`, leaseMs);
  }

  async complete(
    jobId: string,
    leaseToken: string,
    result: ScanResult,
    delivery?: NewCallbackDelivery,
  ): Promise<boolean> {
    return this.#completeOne((sql, values) => this.#db.query(sql, values), {
      jobId,
      leaseToken,
      result,
      delivery,
    });
  }

  async completeMany(completions: readonly JobCompletion[]): Promise<boolean[]> {
    if (completions.length <= 1) {
      return Promise.all(
        completions.map((one) => this.#completeOne((sql, values) => this.#db.query(sql, values), one)),
      );
    }
    return this.#db.transaction(async (client) => {
      // The lock order every completion keeps: verdict cache rows first, then verdict counter rows.
      // The cache entries go first, in hash order, in one statement (a completion's own CTE would
      // take a hash while the batch already holds a counter row that another writer waits behind).
      const cached = cachedVerdictsUpsert(
        this.#db.tables.verdictCache,
        completions.flatMap((completion) => completion.verdictCacheEntry ?? []),
      );
      if (cached) await client.query(cached.sql, cached.values);
      // Then in tenant order: each completion's trigger writes its tenant's verdict counter row for
      // this hour, and two batches writing the same tenants' rows in different orders would deadlock.
      const { rows } = await client.query<{ id: string; tenant_id: string }>(
        `SELECT id, tenant_id FROM ${this.#db.tables.jobs} WHERE id = ANY($1::text[])`,
        [completions.map((completion) => completion.jobId)],
      );
      const tenantOf = new Map(rows.map((row) => [row.id, row.tenant_id]));
      const tenantKey = (index: number) => tenantOf.get(completions[index]!.jobId) ?? '';
      const order = completions
        .map((_, index) => index)
        .sort((a, b) => (tenantKey(a) < tenantKey(b) ? -1 : tenantKey(a) > tenantKey(b) ? 1 : a - b));
      const stored: boolean[] = new Array(completions.length);
      for (const index of order) {
        stored[index] = await this.#completeOne((text, values) => client.query(text, values), {
          ...completions[index]!,
          verdictCacheEntry: undefined,
        });
      }
      return stored;
    });
  }

  async completeAndLease(
    completions: readonly JobCompletion[],
    next: { leaseMs: number; max: number; options?: LeaseOptions },
  ): Promise<{ stored: boolean[]; leased: LeasedJob[] }> {
    // Over the network a transaction of its own would add BEGIN and COMMIT round trips to a single
    // completion and a single lease, each one statement: those run one after the other.
    const stored = await this.completeMany(completions);
    const leased = next.max > 0 ? await this.leaseMany(next.leaseMs, next.max, next.options) : [];
    return { stored, leased };
  }

  async #completeOne(
    query: (sql: string, values: unknown[]) => Promise<{ rowCount: number | null }>,
    { jobId, leaseToken, result, delivery, verdictCacheEntry }: JobCompletion,
  ): Promise<boolean> {
    const finish = `UPDATE ${this.#db.tables.jobs}
      SET state = 'done', result = $3, result_status = $4, completed_at = now(), lease_token = NULL,
        upload_bytes = NULL
      WHERE id = $1 AND lease_token = $2 AND state = 'running'`;
    const values = [jobId, leaseToken, JSON.stringify(result), result.status];
    // The verdict cache entry rides in the same statement (a CTE), so one completion is still one
    // round trip and the entry commits with the result. Its parameters follow all the others.
    const cache = verdictCacheEntry
      ? cachedVerdictCte(this.#db.tables.verdictCache, verdictCacheEntry, delivery ? 11 : 5)
      : undefined;
    if (!delivery) {
      const statement = cache ? `WITH ${cache.cte} ${finish}` : finish;
      return ((await query(statement, [...values, ...(cache?.values ?? [])])).rowCount ?? 0) === 1;
    }
    // One statement: the delivery row exists exactly when the job was finished (a stale token
    // finishes nothing and inserts nothing). The NOTIFY is sent when the transaction commits.
    const { rowCount } = await query(
      `WITH ${cache ? `${cache.cte}, ` : ''}finished AS (${finish} RETURNING id, tenant_id)
       INSERT INTO ${this.#db.tables.deliveries} (id, job_id, tenant_id, url, headers, body, state, next_attempt_at)
       SELECT $5, id, tenant_id, $6, $7::jsonb, $8, 'pending', now() FROM finished
       RETURNING pg_notify($9, $10)`,
      [
        ...values,
        delivery.id,
        delivery.url,
        JSON.stringify(delivery.headers),
        delivery.body,
        this.#notifications.channel('deliveries'),
        this.#notifications.origin,
        ...(cache?.values ?? []),
      ],
    );
    return rowCount === 1;
  }

  async retry(jobId: string, leaseToken: string, error: string, retryAt: Date): Promise<boolean> {
    return this.#db.updateLeased(
      'jobs',
      jobId,
      leaseToken,
      "state = 'queued', lease_token = NULL, next_attempt_at = $3, last_error = $4",
      retryAt,
      error,
    );
  }

  async release(jobId: string, leaseToken: string): Promise<boolean> {
    const released = await this.#db.updateLeased(
      'jobs',
      jobId,
      leaseToken,
      "state = 'queued', lease_token = NULL, next_attempt_at = now(), attempts = greatest(attempts - 1, 0)",
    );
    // Released at shutdown: another process's workers take it now rather than at their next poll.
    if (released) await this.#db.announce(this.#notifications, 'jobs');
    return released;
  }

  async sweepExpired(completedBefore: Date): Promise<{ jobs: number; deliveries: number }> {
    const removed = { jobs: 0, deliveries: 0 };
    // Bounded batches, each its own short transaction: row locks on a thousand old rows at a time,
    // the WAL and the counters' trigger work spread over many commits, and a rest after each so
    // the backend deleting does not take a core from the requests.
    for (;;) {
      const started = performance.now();
      const batch = await this.#db.transaction(async (client) => {
        const { rows } = await client.query<{ id: string }>(
          `SELECT id FROM ${this.#db.tables.jobs} j WHERE j.state = 'done' AND j.completed_at < $1
             AND NOT EXISTS (SELECT 1 FROM ${this.#db.tables.deliveries} p
                             WHERE p.job_id = j.id AND p.state = 'pending')
           ORDER BY j.completed_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [completedBefore, SWEEP_BATCH_ROWS],
        );
        if (rows.length === 0) return { jobs: 0, deliveries: 0, picked: 0 };
        const ids = rows.map((row) => row.id);
        const removedDeliveries = await client.query(
          `DELETE FROM ${this.#db.tables.deliveries} WHERE job_id = ANY($1::text[])`,
          [ids],
        );
        const removedJobs = await client.query(
          `DELETE FROM ${this.#db.tables.jobs} WHERE id = ANY($1::text[])`,
          [ids],
        );
        return {
          jobs: removedJobs.rowCount ?? 0,
          deliveries: removedDeliveries.rowCount ?? 0,
          picked: rows.length,
        };
      });
      removed.jobs += batch.jobs;
      removed.deliveries += batch.deliveries;
      if (batch.picked < SWEEP_BATCH_ROWS) break;
      await restAsLongAs(started);
    }
    // next_due values left early by leases that found their tenant's row held (007_tenant_queue.sql)
    // are looked up again where the tenant has nothing due any more: each costs every pick a probe.
    await this.#db.query(
      `SELECT "${this.#db.schema}".tenant_queue_recompute(q.tenant_id) FROM ${this.#db.tables.tenantQueue} q
       WHERE q.next_due <= now() AND NOT EXISTS (SELECT 1 FROM ${this.#db.tables.jobs} j
         WHERE j.tenant_id = q.tenant_id AND j.state = 'queued' AND j.next_attempt_at <= now())
       ORDER BY q.tenant_id`,
    );
    for (;;) {
      const started = performance.now();
      const deleted = await this.#db.query(
        `DELETE FROM ${this.#db.tables.verdictCache} WHERE (sha256, signature_version) IN (
           SELECT sha256, signature_version FROM ${this.#db.tables.verdictCache} WHERE created_at < $1 LIMIT $2)`,
        [completedBefore, SWEEP_BATCH_ROWS],
      );
      if ((deleted.rowCount ?? 0) < SWEEP_BATCH_ROWS) break;
      await restAsLongAs(started);
    }
    return removed;
  }
}

/** A new job's INSERT values: the columns both stores share, then its inline upload (upload_bytes). */
function insertValues(job: NewScanJob): (string | Uint8Array | null)[] {
  return [...newJobValues(job), job.uploadBytes ?? null];
}

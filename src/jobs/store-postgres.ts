import { createHash, randomUUID } from 'node:crypto';
import type { ContentPolicy } from '../policy/policy.ts';
import type {
  ApiKeyRecord,
  CachedVerdict,
  CallbackDelivery,
  FailedDeliveryPage,
  JobListFilter,
  JobStore,
  LeasedDelivery,
  LeasedJob,
  LeaseOptions,
  NewCallbackDelivery,
  NewScanJob,
  ScanJob,
  ScanResult,
  VerdictCounts,
} from './model.ts';
import { isUniqueViolation, PostgresDatabase, type Tables } from './sql/postgres-database.ts';
import {
  API_KEY_COLUMNS,
  type ApiKeyRow,
  apiKeyFromRow,
  assertStorableJob,
  bucketMilliseconds,
  DELIVERY_COLUMNS,
  type DeliveryRow,
  deliveryFromRow,
  duplicateApiKeyError,
  duplicateTraceIdError,
  type FailedDeliveryRow,
  failedDeliveryPage,
  JOB_COLUMNS,
  type JobRow,
  jobFromRow,
  listLimit,
  parseDeliveryCursor,
  UNFINISHED_TRACE_INDEX,
} from './sql/rows.ts';

/** `now() + n ms` for a numeric parameter. */
const plusMs = (parameter: string) => `now() + ${parameter}::double precision * interval '1 millisecond'`;

/**
 * The scale-out store: any number of API and worker nodes share one PostgreSQL database. Leases are
 * claimed with FOR UPDATE SKIP LOCKED, so concurrent workers never wait on each other's row and
 * never claim the same one. Times come from the database clock (now()), the one clock all nodes share;
 * instants passed in by callers (retryAt, since, before) are compared against it as given.
 */
export class PostgresJobStore implements JobStore {
  readonly kind = 'postgres' as const;
  readonly #db: PostgresDatabase;
  readonly #t: Tables;

  constructor(connectionString: string, poolSize: number, schema = 'public') {
    this.#db = new PostgresDatabase(connectionString, poolSize, schema);
    this.#t = this.#db.tables;
  }

  async init(): Promise<void> {
    await this.#db.migrate();
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  async ping(): Promise<void> {
    await this.#db.query('SELECT 1');
  }

  async submitJob(job: NewScanJob): Promise<ScanJob> {
    assertStorableJob(job);
    try {
      const { rows } = await this.#db.query<JobRow>(
        `INSERT INTO ${this.#t.jobs} (id, tenant_id, trace_id, dialect, source, callback, custom_data, policy,
           state, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', now()) RETURNING ${JOB_COLUMNS}`,
        [
          job.id,
          job.tenantId,
          job.traceId ?? null,
          job.dialect,
          JSON.stringify(job.source),
          job.callback ? JSON.stringify(job.callback) : null,
          job.customData ?? null,
          job.policy ? JSON.stringify(job.policy) : null,
        ],
      );
      return jobFromRow(rows[0]!);
    } catch (error) {
      if (isUniqueViolation(error, UNFINISHED_TRACE_INDEX)) throw duplicateTraceIdError(job, error);
      throw error;
    }
  }

  async getJob(tenantId: string, jobId: string): Promise<ScanJob | undefined> {
    const { rows } = await this.#db.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM ${this.#t.jobs} WHERE id = $1 AND tenant_id = $2`,
      [jobId, tenantId],
    );
    return rows[0] && jobFromRow(rows[0]);
  }

  async getJobByTraceId(tenantId: string, traceId: string): Promise<ScanJob | undefined> {
    const { rows } = await this.#db.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM ${this.#t.jobs} WHERE tenant_id = $1 AND trace_id = $2
       ORDER BY seq DESC LIMIT 1`,
      [tenantId, traceId],
    );
    return rows[0] && jobFromRow(rows[0]);
  }

  async listJobs(tenantId: string, filter: JobListFilter): Promise<ScanJob[]> {
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
      `SELECT ${JOB_COLUMNS} FROM ${this.#t.jobs} WHERE ${conditions.join(' AND ')}
       ORDER BY created_at DESC, seq DESC LIMIT $${values.length}`,
      values,
    );
    return rows.map(jobFromRow);
  }

  async countVerdicts(tenantId: string, since: Date, bucketSeconds: number): Promise<VerdictCounts[]> {
    // int8 and count() arrive as strings from pg: converted below.
    const { rows } = await this.#db.query<
      Record<'bucket' | 'clean' | 'infected' | 'unscannable' | 'blocked', string>
    >(
      `SELECT floor(extract(epoch FROM completed_at) * 1000 / $1::bigint)::bigint * $1::bigint AS bucket,
         count(*) FILTER (WHERE result_status = 'clean') AS clean,
         count(*) FILTER (WHERE result_status = 'infected') AS infected,
         count(*) FILTER (WHERE result_status = 'unscannable') AS unscannable,
         count(*) FILTER (WHERE result_status = 'blocked') AS blocked
       FROM ${this.#t.jobs} WHERE tenant_id = $2 AND state = 'done' AND completed_at >= $3
       GROUP BY 1 ORDER BY 1`,
      [bucketMilliseconds(bucketSeconds), tenantId, since],
    );
    return rows.map((row) => ({
      bucketStart: new Date(Number(row.bucket)),
      clean: Number(row.clean),
      infected: Number(row.infected),
      unscannable: Number(row.unscannable),
      blocked: Number(row.blocked),
    }));
  }

  async countUnfinishedJobs(tenantId?: string): Promise<number> {
    const { rows } =
      tenantId === undefined
        ? await this.#db.query<{ n: number }>(
            `SELECT count(*)::integer AS n FROM ${this.#t.jobs} WHERE state <> 'done'`,
          )
        : await this.#db.query<{ n: number }>(
            `SELECT count(*)::integer AS n FROM ${this.#t.jobs} WHERE tenant_id = $1 AND state <> 'done'`,
            [tenantId],
          );
    return rows[0]!.n;
  }

  async unfinishedJobIds(jobIds: readonly string[]): Promise<Set<string>> {
    const { rows } = await this.#db.query<{ id: string }>(
      `SELECT id FROM ${this.#t.jobs} WHERE id = ANY($1::text[]) AND state <> 'done'`,
      [jobIds],
    );
    return new Set(rows.map((row) => row.id));
  }

  async leaseNextJob(leaseMs: number, options: LeaseOptions = {}): Promise<LeasedJob | undefined> {
    const leaseToken = randomUUID();
    // The tenant is chosen first (fewest running, then oldest due), then its oldest due job. SKIP
    // LOCKED: a row another worker is claiming right now is passed over, not waited for; the locking
    // re-check of the WHERE clause drops rows that finished since the index was read. Two workers
    // choosing at the same instant may both pick one tenant: the limit can be passed by that much.
    const { rows } = await this.#db.query<JobRow>(
      `WITH RECURSIVE tenants(tenant_id) AS (
         SELECT MIN(tenant_id) FROM ${this.#t.jobs} WHERE state <> 'done'
         UNION ALL
         SELECT (SELECT MIN(j.tenant_id) FROM ${this.#t.jobs} j WHERE j.state <> 'done' AND j.tenant_id > t.tenant_id)
         FROM tenants t WHERE t.tenant_id IS NOT NULL
       ),
       ranked AS (
         SELECT t.tenant_id,
           (SELECT COUNT(*) FROM ${this.#t.jobs} r
             WHERE r.tenant_id = t.tenant_id AND r.state = 'running' AND r.next_attempt_at > now()) AS running,
           (SELECT MIN(d.next_attempt_at) FROM ${this.#t.jobs} d
             WHERE d.tenant_id = t.tenant_id AND d.state <> 'done' AND d.next_attempt_at <= now()) AS due
         FROM tenants t WHERE t.tenant_id IS NOT NULL
       ),
       chosen AS (
         SELECT tenant_id FROM ranked
         WHERE due IS NOT NULL AND ($3::integer = 0 OR running < $3::integer)
         ORDER BY running, due, tenant_id LIMIT 1
       )
       UPDATE ${this.#t.jobs} SET state = 'running', lease_token = $1, attempts = attempts + 1,
         started_at = now(), next_attempt_at = ${plusMs('$2')}
       WHERE seq = (SELECT seq FROM ${this.#t.jobs} WHERE tenant_id = (SELECT tenant_id FROM chosen)
                      AND state <> 'done' AND next_attempt_at <= now()
                    ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${JOB_COLUMNS}`,
      [leaseToken, leaseMs, options.maxRunningPerTenant ?? 0],
      // Named per schema: the statement text names this store's tables.
      `lease-next-job-${createHash('sha256').update(this.#t.jobs).digest('hex').slice(0, 12)}`,
    );
    if (!rows[0]) return undefined;
    const job = jobFromRow(rows[0]);
    return { job, leaseToken, leaseExpiresAt: job.nextAttemptAt };
  }

  async extendJobLease(jobId: string, leaseToken: string, leaseMs: number): Promise<boolean> {
    return this.#updateLeased('jobs', jobId, leaseToken, `next_attempt_at = ${plusMs('$3')}`, leaseMs);
  }

  async completeJob(
    jobId: string,
    leaseToken: string,
    result: ScanResult,
    delivery?: NewCallbackDelivery,
  ): Promise<boolean> {
    const finish = `UPDATE ${this.#t.jobs}
      SET state = 'done', result = $3, result_status = $4, completed_at = now(), lease_token = NULL
      WHERE id = $1 AND lease_token = $2 AND state = 'running'`;
    const values = [jobId, leaseToken, JSON.stringify(result), result.status];
    if (!delivery) return ((await this.#db.query(finish, values)).rowCount ?? 0) === 1;
    // One statement is one transaction: the delivery row exists exactly when the job was finished.
    const { rowCount } = await this.#db.query(
      `WITH finished AS (${finish} RETURNING id, tenant_id)
       INSERT INTO ${this.#t.deliveries} (id, job_id, tenant_id, url, headers, body, state, next_attempt_at)
       SELECT $5, id, tenant_id, $6, $7::jsonb, $8, 'pending', now() FROM finished`,
      [...values, delivery.id, delivery.url, JSON.stringify(delivery.headers), delivery.body],
    );
    return rowCount === 1;
  }

  async retryJob(jobId: string, leaseToken: string, error: string, retryAt: Date): Promise<boolean> {
    return this.#updateLeased(
      'jobs',
      jobId,
      leaseToken,
      "state = 'queued', lease_token = NULL, next_attempt_at = $3, last_error = $4",
      retryAt,
      error,
    );
  }

  async releaseJob(jobId: string, leaseToken: string): Promise<boolean> {
    return this.#updateLeased(
      'jobs',
      jobId,
      leaseToken,
      "state = 'queued', lease_token = NULL, next_attempt_at = now(), attempts = greatest(attempts - 1, 0)",
    );
  }

  async leaseNextDelivery(leaseMs: number): Promise<LeasedDelivery | undefined> {
    const leaseToken = randomUUID();
    const { rows } = await this.#db.query<DeliveryRow>(
      `UPDATE ${this.#t.deliveries} SET lease_token = $1, attempts = attempts + 1,
         next_attempt_at = ${plusMs('$2')}
       WHERE seq = (SELECT seq FROM ${this.#t.deliveries} WHERE state = 'pending' AND next_attempt_at <= now()
                    ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${DELIVERY_COLUMNS}`,
      [leaseToken, leaseMs],
    );
    if (!rows[0]) return undefined;
    const delivery = deliveryFromRow(rows[0]);
    return { delivery, leaseToken, leaseExpiresAt: delivery.nextAttemptAt };
  }

  async markDeliveryDelivered(deliveryId: string, leaseToken: string, statusCode: number): Promise<boolean> {
    return this.#updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      "state = 'delivered', lease_token = NULL, delivered_at = now(), last_status_code = $3",
      statusCode,
    );
  }

  async retryDelivery(
    deliveryId: string,
    leaseToken: string,
    error: string,
    statusCode: number | undefined,
    retryAt: Date,
  ): Promise<boolean> {
    return this.#updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      'lease_token = NULL, next_attempt_at = $3, last_error = $4, last_status_code = $5',
      retryAt,
      error,
      statusCode ?? null,
    );
  }

  async failDelivery(
    deliveryId: string,
    leaseToken: string,
    error: string,
    statusCode: number | undefined,
  ): Promise<boolean> {
    return this.#updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      // A failed row is never leased again, so next_attempt_at is free to record when it failed.
      "state = 'failed', lease_token = NULL, next_attempt_at = now(), last_error = $3, last_status_code = $4",
      error,
      statusCode ?? null,
    );
  }

  async releaseDelivery(deliveryId: string, leaseToken: string): Promise<boolean> {
    return this.#updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      'lease_token = NULL, next_attempt_at = now(), attempts = greatest(attempts - 1, 0)',
    );
  }

  async getDeliveriesForJob(tenantId: string, jobId: string): Promise<CallbackDelivery[]> {
    const { rows } = await this.#db.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} WHERE job_id = $1 AND tenant_id = $2 ORDER BY seq`,
      [jobId, tenantId],
    );
    return rows.map(deliveryFromRow);
  }

  async listFailedDeliveries(
    tenantId: string,
    callbackUrl: string,
    limit: number,
    cursor?: string,
  ): Promise<FailedDeliveryPage> {
    const before = parseDeliveryCursor(cursor) ?? Number.MAX_SAFE_INTEGER;
    const columns = DELIVERY_COLUMNS.split(', ')
      .map((column) => `d.${column}`)
      .join(', ');
    const { rows } = await this.#db.query<FailedDeliveryRow>(
      `SELECT d.seq, ${columns}, j.source FROM ${this.#t.deliveries} d JOIN ${this.#t.jobs} j ON j.id = d.job_id
       WHERE d.tenant_id = $1 AND d.url = $2 AND d.state = 'failed' AND d.seq < $3
       ORDER BY d.seq DESC LIMIT $4`,
      [tenantId, callbackUrl, before, limit + 1],
    );
    return failedDeliveryPage(rows, limit);
  }

  async sweepExpired(completedBefore: Date): Promise<{ jobs: number; deliveries: number }> {
    const expiredJobIds = `SELECT id FROM ${this.#t.jobs} j WHERE j.state = 'done' AND j.completed_at < $1
      AND NOT EXISTS (SELECT 1 FROM ${this.#t.deliveries} p WHERE p.job_id = j.id AND p.state = 'pending')`;
    return this.#db.transaction(async (client) => {
      const deliveries = await client.query(
        `DELETE FROM ${this.#t.deliveries} WHERE job_id IN (${expiredJobIds})`,
        [completedBefore],
      );
      const jobs = await client.query(`DELETE FROM ${this.#t.jobs} WHERE id IN (${expiredJobIds})`, [
        completedBefore,
      ]);
      await client.query(`DELETE FROM ${this.#t.verdictCache} WHERE created_at < $1`, [completedBefore]);
      return { jobs: jobs.rowCount ?? 0, deliveries: deliveries.rowCount ?? 0 };
    });
  }

  async getCachedVerdict(sha256: string, cacheKey: string): Promise<ScanResult | undefined> {
    const { rows } = await this.#db.query<{ result: ScanResult }>(
      `SELECT result FROM ${this.#t.verdictCache} WHERE sha256 = $1 AND signature_version = $2`,
      [sha256, cacheKey],
    );
    return rows[0]?.result;
  }

  async putCachedVerdict(entry: CachedVerdict): Promise<void> {
    await this.#db.query(
      `INSERT INTO ${this.#t.verdictCache} (sha256, signature_version, result) VALUES ($1, $2, $3)
       ON CONFLICT (sha256, signature_version) DO UPDATE SET result = excluded.result, created_at = now()`,
      [entry.sha256, entry.cacheKey, JSON.stringify(entry.result)],
    );
  }

  async createApiKey(record: ApiKeyRecord): Promise<void> {
    try {
      await this.#db.query(
        `INSERT INTO ${this.#t.apiKeys} (id, tenant_id, key_hash, prefix, created_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          record.id,
          record.tenantId,
          record.keyHash,
          record.prefix,
          record.createdAt,
          record.revokedAt ?? null,
        ],
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw duplicateApiKeyError(error);
      throw error;
    }
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const { rows } = await this.#db.query<ApiKeyRow>(
      `SELECT ${API_KEY_COLUMNS} FROM ${this.#t.apiKeys} WHERE key_hash = $1`,
      [keyHash],
    );
    return rows[0] && apiKeyFromRow(rows[0]);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const { rows } = await this.#db.query<ApiKeyRow>(
      `SELECT ${API_KEY_COLUMNS} FROM ${this.#t.apiKeys} ORDER BY created_at, id`,
    );
    return rows.map(apiKeyFromRow);
  }

  async revokeApiKey(id: string): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      `UPDATE ${this.#t.apiKeys} SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`,
      [id],
    );
    return (rowCount ?? 0) > 0;
  }

  async getOrCreateWebhookSecret(tenantId: string, create: () => string): Promise<string> {
    const select = `SELECT secret FROM ${this.#t.webhookSecrets} WHERE tenant_id = $1`;
    const existing = await this.#db.query<{ secret: string }>(select, [tenantId]);
    if (existing.rows[0]) return existing.rows[0].secret;
    // Another node may insert first: its secret wins and this one is dropped.
    await this.#db.query(
      `INSERT INTO ${this.#t.webhookSecrets} (tenant_id, secret) VALUES ($1, $2)
       ON CONFLICT (tenant_id) DO NOTHING`,
      [tenantId, create()],
    );
    const stored = await this.#db.query<{ secret: string }>(select, [tenantId]);
    return stored.rows[0]!.secret;
  }

  async getTenantPolicy(tenantId: string): Promise<ContentPolicy | undefined> {
    const { rows } = await this.#db.query<{ policy: ContentPolicy }>(
      `SELECT policy FROM ${this.#t.tenantPolicies} WHERE tenant_id = $1`,
      [tenantId],
    );
    return rows[0]?.policy;
  }

  async setTenantPolicy(tenantId: string, policy: ContentPolicy | undefined): Promise<void> {
    if (!policy) {
      await this.#db.query(`DELETE FROM ${this.#t.tenantPolicies} WHERE tenant_id = $1`, [tenantId]);
      return;
    }
    await this.#db.query(
      `INSERT INTO ${this.#t.tenantPolicies} (tenant_id, policy, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`,
      [tenantId, JSON.stringify(policy)],
    );
  }

  /** Updates one leased row, only while the caller still holds its lease (fencing). $1 id, $2 token. */
  async #updateLeased(
    table: 'jobs' | 'deliveries',
    id: string,
    leaseToken: string,
    assignments: string,
    ...values: unknown[]
  ): Promise<boolean> {
    const leasedState = table === 'jobs' ? 'running' : 'pending';
    const { rowCount } = await this.#db.query(
      `UPDATE ${this.#t[table]} SET ${assignments}
       WHERE id = $1 AND lease_token = $2 AND state = '${leasedState}'`,
      [id, leaseToken, ...values],
    );
    return rowCount === 1;
  }
}

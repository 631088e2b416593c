import { randomUUID } from 'node:crypto';
import type { SQLInputValue } from 'node:sqlite';
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
  fromJson,
  JOB_COLUMNS,
  type JobRow,
  jobFromRow,
  listLimit,
  parseDeliveryCursor,
} from './sql/rows.ts';
import { isUniqueViolation, SqliteDatabase } from './sql/sqlite-database.ts';

/**
 * The embedded single-node store: one SQLite file in WAL mode, one connection per store. node:sqlite
 * is synchronous, so the transactions of one process never interleave; other processes on the same
 * file are kept apart by SQLite's write lock. Times come from this process's clock (epoch ms).
 */
export class SqliteJobStore implements JobStore {
  readonly kind = 'sqlite' as const;
  readonly #db: SqliteDatabase;

  constructor(path: string) {
    this.#db = new SqliteDatabase(path);
  }

  async init(): Promise<void> {
    this.#db.open();
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  async ping(): Promise<void> {
    this.#db.get('SELECT 1');
  }

  async submitJob(job: NewScanJob): Promise<ScanJob> {
    assertStorableJob(job);
    const now = Date.now();
    try {
      const row = this.#db.get<JobRow>(
        `INSERT INTO jobs (id, tenant_id, trace_id, dialect, source, callback, custom_data, policy, state,
           created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?) RETURNING ${JOB_COLUMNS}`,
        job.id,
        job.tenantId,
        job.traceId ?? null,
        job.dialect,
        JSON.stringify(job.source),
        job.callback ? JSON.stringify(job.callback) : null,
        job.customData ?? null,
        job.policy ? JSON.stringify(job.policy) : null,
        now,
        now,
      );
      return jobFromRow(row!);
    } catch (error) {
      if (isUniqueViolation(error, 'jobs.trace_id')) throw duplicateTraceIdError(job, error);
      throw error;
    }
  }

  async getJob(tenantId: string, jobId: string): Promise<ScanJob | undefined> {
    const row = this.#db.get<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ? AND tenant_id = ?`,
      jobId,
      tenantId,
    );
    return row && jobFromRow(row);
  }

  async getJobByTraceId(tenantId: string, traceId: string): Promise<ScanJob | undefined> {
    const row = this.#db.get<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE tenant_id = ? AND trace_id = ? ORDER BY seq DESC LIMIT 1`,
      tenantId,
      traceId,
    );
    return row && jobFromRow(row);
  }

  async listJobs(tenantId: string, filter: JobListFilter): Promise<ScanJob[]> {
    const conditions = ['tenant_id = ?'];
    const values: SQLInputValue[] = [tenantId];
    if (filter.status === 'pending') conditions.push("state <> 'done'");
    else if (filter.status) {
      conditions.push("state = 'done'", 'result_status = ?');
      values.push(filter.status);
    }
    if (filter.before) {
      conditions.push('created_at < ?');
      values.push(filter.before.getTime());
    }
    const rows = this.#db.all<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE ${conditions.join(' AND ')}
       ORDER BY created_at DESC, seq DESC LIMIT ?`,
      ...values,
      listLimit(filter),
    );
    return rows.map(jobFromRow);
  }

  async countVerdicts(tenantId: string, since: Date, bucketSeconds: number): Promise<VerdictCounts[]> {
    const rows = this.#db.all<{
      bucket: number;
      clean: number;
      infected: number;
      unscannable: number;
      blocked: number;
    }>(
      `SELECT (completed_at / CAST(?1 AS INTEGER)) * CAST(?1 AS INTEGER) AS bucket,
         sum(result_status = 'clean') AS clean,
         sum(result_status = 'infected') AS infected,
         sum(result_status = 'unscannable') AS unscannable,
         sum(result_status = 'blocked') AS blocked
       FROM jobs WHERE tenant_id = ?2 AND state = 'done' AND completed_at >= ?3
       GROUP BY bucket ORDER BY bucket`,
      bucketMilliseconds(bucketSeconds),
      tenantId,
      since.getTime(),
    );
    return rows.map((row) => ({
      bucketStart: new Date(row.bucket),
      clean: row.clean,
      infected: row.infected,
      unscannable: row.unscannable,
      blocked: row.blocked,
    }));
  }

  async countUnfinishedJobs(tenantId?: string): Promise<number> {
    const row =
      tenantId === undefined
        ? this.#db.get<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE state <> 'done'")
        : this.#db.get<{ n: number }>(
            "SELECT count(*) AS n FROM jobs WHERE tenant_id = ? AND state <> 'done'",
            tenantId,
          );
    return row!.n;
  }

  async unfinishedJobIds(jobIds: readonly string[]): Promise<Set<string>> {
    const unfinished = new Set<string>();
    for (const id of jobIds) {
      const row = this.#db.get<{ id: string }>("SELECT id FROM jobs WHERE id = ? AND state <> 'done'", id);
      if (row) unfinished.add(row.id);
    }
    return unfinished;
  }

  async leaseNextJob(leaseMs: number, options: LeaseOptions = {}): Promise<LeasedJob | undefined> {
    const now = Date.now();
    const leaseToken = randomUUID();
    // One statement: a write statement takes SQLite's write lock (waiting on busy_timeout) before it
    // reads, so no other connection can claim the same row between the pick and the update. The
    // tenant is chosen first (fewest running, then oldest due), then its oldest due job.
    const row = this.#db.get<JobRow>(
      `WITH RECURSIVE tenants(tenant_id) AS (
         SELECT MIN(tenant_id) FROM jobs WHERE state <> 'done'
         UNION ALL
         SELECT (SELECT MIN(j.tenant_id) FROM jobs j WHERE j.state <> 'done' AND j.tenant_id > t.tenant_id)
         FROM tenants t WHERE t.tenant_id IS NOT NULL
       ),
       ranked AS (
         SELECT t.tenant_id,
           (SELECT COUNT(*) FROM jobs r
             WHERE r.tenant_id = t.tenant_id AND r.state = 'running' AND r.next_attempt_at > ?2) AS running,
           (SELECT MIN(d.next_attempt_at) FROM jobs d
             WHERE d.tenant_id = t.tenant_id AND d.state <> 'done' AND d.next_attempt_at <= ?2) AS due
         FROM tenants t WHERE t.tenant_id IS NOT NULL
       ),
       chosen AS (
         SELECT tenant_id FROM ranked
         WHERE due IS NOT NULL AND (?4 = 0 OR running < ?4)
         ORDER BY running, due, tenant_id LIMIT 1
       )
       UPDATE jobs SET state = 'running', lease_token = ?1, attempts = attempts + 1, started_at = ?2,
         next_attempt_at = ?3
       WHERE seq = (SELECT seq FROM jobs WHERE tenant_id = (SELECT tenant_id FROM chosen)
                      AND state <> 'done' AND next_attempt_at <= ?2
                    ORDER BY next_attempt_at, seq LIMIT 1)
       RETURNING ${JOB_COLUMNS}`,
      leaseToken,
      now,
      now + leaseMs,
      options.maxRunningPerTenant ?? 0,
    );
    if (!row) return undefined;
    const job = jobFromRow(row);
    return { job, leaseToken, leaseExpiresAt: job.nextAttemptAt };
  }

  async extendJobLease(jobId: string, leaseToken: string, leaseMs: number): Promise<boolean> {
    return this.#updateLeased('jobs', jobId, leaseToken, 'next_attempt_at = ?', Date.now() + leaseMs);
  }

  async completeJob(
    jobId: string,
    leaseToken: string,
    result: ScanResult,
    delivery?: NewCallbackDelivery,
  ): Promise<boolean> {
    return this.#db.immediate(() => {
      const now = Date.now();
      const finished = this.#db.get<{ tenant_id: string }>(
        `UPDATE jobs SET state = 'done', result = ?, result_status = ?, completed_at = ?, lease_token = NULL
         WHERE id = ? AND lease_token = ? AND state = 'running' RETURNING tenant_id`,
        JSON.stringify(result),
        result.status,
        now,
        jobId,
        leaseToken,
      );
      if (!finished) return false;
      if (delivery) {
        this.#db.run(
          `INSERT INTO deliveries (id, job_id, tenant_id, url, headers, body, state, created_at,
             next_attempt_at)
           VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
          delivery.id,
          jobId,
          finished.tenant_id,
          delivery.url,
          JSON.stringify(delivery.headers),
          delivery.body,
          now,
          now,
        );
      }
      return true;
    });
  }

  async retryJob(jobId: string, leaseToken: string, error: string, retryAt: Date): Promise<boolean> {
    return this.#updateLeased(
      'jobs',
      jobId,
      leaseToken,
      "state = 'queued', lease_token = NULL, next_attempt_at = ?, last_error = ?",
      retryAt.getTime(),
      error,
    );
  }

  async releaseJob(jobId: string, leaseToken: string): Promise<boolean> {
    return this.#updateLeased(
      'jobs',
      jobId,
      leaseToken,
      "state = 'queued', lease_token = NULL, next_attempt_at = ?, attempts = max(attempts - 1, 0)",
      Date.now(),
    );
  }

  async leaseNextDelivery(leaseMs: number): Promise<LeasedDelivery | undefined> {
    const now = Date.now();
    const leaseToken = randomUUID();
    const row = this.#db.get<DeliveryRow>(
      `UPDATE deliveries SET lease_token = ?1, attempts = attempts + 1, next_attempt_at = ?3
       WHERE seq = (SELECT seq FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?2
                    ORDER BY next_attempt_at, seq LIMIT 1)
       RETURNING ${DELIVERY_COLUMNS}`,
      leaseToken,
      now,
      now + leaseMs,
    );
    if (!row) return undefined;
    const delivery = deliveryFromRow(row);
    return { delivery, leaseToken, leaseExpiresAt: delivery.nextAttemptAt };
  }

  async markDeliveryDelivered(deliveryId: string, leaseToken: string, statusCode: number): Promise<boolean> {
    return this.#updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      "state = 'delivered', lease_token = NULL, delivered_at = ?, last_status_code = ?",
      Date.now(),
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
      'lease_token = NULL, next_attempt_at = ?, last_error = ?, last_status_code = ?',
      retryAt.getTime(),
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
      "state = 'failed', lease_token = NULL, next_attempt_at = ?, last_error = ?, last_status_code = ?",
      Date.now(),
      error,
      statusCode ?? null,
    );
  }

  async releaseDelivery(deliveryId: string, leaseToken: string): Promise<boolean> {
    return this.#updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      'lease_token = NULL, next_attempt_at = ?, attempts = max(attempts - 1, 0)',
      Date.now(),
    );
  }

  async getDeliveriesForJob(tenantId: string, jobId: string): Promise<CallbackDelivery[]> {
    return this.#db
      .all<DeliveryRow>(
        `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE job_id = ? AND tenant_id = ? ORDER BY seq`,
        jobId,
        tenantId,
      )
      .map(deliveryFromRow);
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
    const rows = this.#db.all<FailedDeliveryRow>(
      `SELECT d.seq, ${columns}, j.source FROM deliveries d JOIN jobs j ON j.id = d.job_id
       WHERE d.tenant_id = ? AND d.url = ? AND d.state = 'failed' AND d.seq < ?
       ORDER BY d.seq DESC LIMIT ?`,
      tenantId,
      callbackUrl,
      before,
      limit + 1,
    );
    return failedDeliveryPage(rows, limit);
  }

  async sweepExpired(completedBefore: Date): Promise<{ jobs: number; deliveries: number }> {
    const cutoff = completedBefore.getTime();
    const expiredJobIds = `SELECT id FROM jobs j WHERE j.state = 'done' AND j.completed_at < ?
      AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.job_id = j.id AND p.state = 'pending')`;
    return this.#db.immediate(() => {
      const deliveries = this.#db.run(`DELETE FROM deliveries WHERE job_id IN (${expiredJobIds})`, cutoff);
      const jobs = this.#db.run(`DELETE FROM jobs WHERE id IN (${expiredJobIds})`, cutoff);
      this.#db.run('DELETE FROM verdict_cache WHERE created_at < ?', cutoff);
      return { jobs, deliveries };
    });
  }

  async getCachedVerdict(sha256: string, cacheKey: string): Promise<ScanResult | undefined> {
    const row = this.#db.get<{ result: string }>(
      'SELECT result FROM verdict_cache WHERE sha256 = ? AND signature_version = ?',
      sha256,
      cacheKey,
    );
    return row && (JSON.parse(row.result) as ScanResult);
  }

  async putCachedVerdict(entry: CachedVerdict): Promise<void> {
    this.#db.run(
      `INSERT INTO verdict_cache (sha256, signature_version, result, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (sha256, signature_version)
       DO UPDATE SET result = excluded.result, created_at = excluded.created_at`,
      entry.sha256,
      entry.cacheKey,
      JSON.stringify(entry.result),
      Date.now(),
    );
  }

  async createApiKey(record: ApiKeyRecord): Promise<void> {
    try {
      this.#db.run(
        `INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
        record.id,
        record.tenantId,
        record.keyHash,
        record.prefix,
        record.createdAt.getTime(),
        record.revokedAt?.getTime() ?? null,
      );
    } catch (error) {
      if (isUniqueViolation(error, 'api_keys.')) throw duplicateApiKeyError(error);
      throw error;
    }
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const row = this.#db.get<ApiKeyRow>(
      `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?`,
      keyHash,
    );
    return row && apiKeyFromRow(row);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#db
      .all<ApiKeyRow>(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`)
      .map(apiKeyFromRow);
  }

  async revokeApiKey(id: string): Promise<boolean> {
    const changed = this.#db.run(
      'UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?',
      Date.now(),
      id,
    );
    return changed > 0;
  }

  async getOrCreateWebhookSecret(tenantId: string, create: () => string): Promise<string> {
    const select = 'SELECT secret FROM webhook_secrets WHERE tenant_id = ?';
    const existing = this.#db.get<{ secret: string }>(select, tenantId);
    if (existing) return existing.secret;
    // Another process may insert first: its secret wins and this one is dropped.
    this.#db.run(
      `INSERT INTO webhook_secrets (tenant_id, secret, created_at) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id) DO NOTHING`,
      tenantId,
      create(),
      Date.now(),
    );
    return this.#db.get<{ secret: string }>(select, tenantId)!.secret;
  }

  async getTenantPolicy(tenantId: string): Promise<ContentPolicy | undefined> {
    const row = this.#db.get<{ policy: string }>(
      'SELECT policy FROM tenant_policies WHERE tenant_id = ?',
      tenantId,
    );
    return row && fromJson<ContentPolicy>(row.policy);
  }

  async setTenantPolicy(tenantId: string, policy: ContentPolicy | undefined): Promise<void> {
    if (!policy) {
      this.#db.run('DELETE FROM tenant_policies WHERE tenant_id = ?', tenantId);
      return;
    }
    this.#db.run(
      `INSERT INTO tenant_policies (tenant_id, policy, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`,
      tenantId,
      JSON.stringify(policy),
      Date.now(),
    );
  }

  /** Updates one leased row, only while the caller still holds its lease (fencing). */
  #updateLeased(
    table: 'jobs' | 'deliveries',
    id: string,
    leaseToken: string,
    assignments: string,
    ...values: SQLInputValue[]
  ): boolean {
    const leasedState = table === 'jobs' ? 'running' : 'pending';
    const changed = this.#db.run(
      `UPDATE ${table} SET ${assignments} WHERE id = ? AND lease_token = ? AND state = '${leasedState}'`,
      ...values,
      id,
      leaseToken,
    );
    return changed === 1;
  }
}

import { randomUUID } from 'node:crypto';
import type { SQLInputValue } from 'node:sqlite';
import type {
  JobListFilter,
  NewCallbackDelivery,
  NewScanJob,
  ScanJob,
  ScanResult,
  VerdictCounts,
} from '../../scan.ts';
import type { JobCompletion, JobQueueStore, LeasedJob, LeaseOptions, SubmitOutcome } from '../contracts.ts';
import {
  assertStorableJob,
  bucketMilliseconds,
  duplicateTraceIdError,
  isRefusedAlone,
  JOB_COLUMNS,
  type JobRow,
  jobFromRow,
  leasedJobFromRow,
  listLimit,
  newJobValues,
} from '../rows.ts';
import {
  mergeVerdictCounts,
  type VerdictCountRow,
  verdictCountsFromRow,
  verdictWindow,
} from '../verdict-window.ts';
import { isUniqueViolation, type RowCondition, type SqliteDatabase } from './database.ts';
import { putCachedVerdict } from './verdicts.ts';

/**
 * The job queue on SQLite. node:sqlite is synchronous, so the transactions of one process never
 * interleave; other processes on the same file are kept apart by SQLite's write lock. Times come
 * from this process's clock (epoch ms).
 */
export class SqliteJobQueue implements JobQueueStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async submit(job: NewScanJob): Promise<ScanJob> {
    // With an upload it is two statements, the job's row and its bytes: one transaction.
    if (job.uploadBytes) return this.#db.immediate(() => this.#insertOne(job, Date.now()));
    return this.#insertOne(job, Date.now());
  }

  async submitMany(jobs: readonly NewScanJob[]): Promise<SubmitOutcome[]> {
    if (jobs.length === 0) return [];
    // A refused job (duplicate trace id) fails its own INSERT statement only: SQLite keeps the
    // transaction and the others' rows.
    return this.#db.immediate(() => {
      const now = Date.now();
      return jobs.map((job): SubmitOutcome => {
        try {
          return { job: this.#insertOne(job, now) };
        } catch (error) {
          if (isRefusedAlone(error)) return { error };
          throw error;
        }
      });
    });
  }

  #insertOne(job: NewScanJob, now: number): ScanJob {
    assertStorableJob(job);
    try {
      const row = this.#db.get<JobRow & { seq: number }>(
        `INSERT INTO jobs (id, tenant_id, trace_id, dialect, source, callback, custom_data, policy,
           state, created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?) RETURNING ${JOB_COLUMNS}, seq`,
        ...newJobValues(job),
        now,
        now,
      )!;
      if (job.uploadBytes)
        this.#db.run('INSERT INTO job_uploads (seq, bytes) VALUES (?, ?)', row.seq, job.uploadBytes);
      return jobFromRow(row);
    } catch (error) {
      if (isUniqueViolation(error, 'jobs.trace_id')) throw duplicateTraceIdError(job, error);
      throw error;
    }
  }

  async get(tenantId: string, jobId: string): Promise<ScanJob | undefined> {
    const row = this.#db.get<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ? AND tenant_id = ?`,
      jobId,
      tenantId,
    );
    return row && jobFromRow(row);
  }

  async getByTraceId(tenantId: string, traceId: string): Promise<ScanJob | undefined> {
    const row = this.#db.get<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE tenant_id = ? AND trace_id = ? ORDER BY seq DESC LIMIT 1`,
      tenantId,
      traceId,
    );
    return row && jobFromRow(row);
  }

  async list(tenantId: string, filter: JobListFilter): Promise<ScanJob[]> {
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
    const rows = await this.#db.allOffThread<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE ${conditions.join(' AND ')}
       ORDER BY created_at DESC, seq DESC LIMIT ?`,
      ...values,
      listLimit(filter),
    );
    return rows.map(jobFromRow);
  }

  async countVerdicts(tenantId: string, since: Date, bucketSeconds: number): Promise<VerdictCounts[]> {
    const bucketMs = bucketMilliseconds(bucketSeconds);
    const window = verdictWindow(since, bucketMs);
    if (!window) return this.#countFinished(tenantId, since.getTime(), Number.MAX_SAFE_INTEGER, bucketMs);
    const [counters, partial] = await Promise.all([
      this.#countersSince(tenantId, window.countersFrom, bucketMs),
      window.partialFrom < window.countersFrom
        ? this.#countFinished(tenantId, window.partialFrom, window.countersFrom, bucketMs)
        : [],
    ]);
    return mergeVerdictCounts(counters, partial);
  }

  async #countersSince(tenantId: string, from: number, bucketMs: number): Promise<VerdictCounts[]> {
    const rows = await this.#db.allOffThread<VerdictCountRow>(
      `SELECT (hour_start / CAST(?1 AS INTEGER)) * CAST(?1 AS INTEGER) AS bucket, sum(clean) AS clean, sum(infected) AS infected,
         sum(unscannable) AS unscannable, sum(blocked) AS blocked
       FROM verdict_counts WHERE tenant_id = ?2 AND hour_start >= ?3
       GROUP BY bucket ORDER BY bucket`,
      bucketMs,
      tenantId,
      from,
    );
    return rows.map(verdictCountsFromRow);
  }

  /** Counts finished jobs from the table: the part-hour before the counters, or odd bucket widths. */
  async #countFinished(
    tenantId: string,
    from: number,
    until: number,
    bucketMs: number,
  ): Promise<VerdictCounts[]> {
    const rows = await this.#db.allOffThread<VerdictCountRow>(
      `SELECT (completed_at / CAST(?1 AS INTEGER)) * CAST(?1 AS INTEGER) AS bucket,
         sum(result_status = 'clean') AS clean,
         sum(result_status = 'infected') AS infected,
         sum(result_status = 'unscannable') AS unscannable,
         sum(result_status = 'blocked') AS blocked
       FROM jobs WHERE tenant_id = ?2 AND state = 'done' AND completed_at >= ?3 AND completed_at < ?4
       GROUP BY bucket ORDER BY bucket`,
      bucketMs,
      tenantId,
      from,
      until,
    );
    return rows.map(verdictCountsFromRow);
  }

  async countUnfinished(tenantId?: string): Promise<number> {
    // Queued jobs from their own index, running ones from tenant_queue's counts (kept exact by the
    // triggers of migration 007); off the main thread: one tenant's bucket scan can queue a million
    // jobs, a long count.
    const [row] =
      tenantId === undefined
        ? await this.#db.allOffThread<{ n: number }>(
            `SELECT (SELECT count(*) FROM jobs WHERE state = 'queued')
               + (SELECT coalesce(sum(running), 0) FROM tenant_queue) AS n`,
          )
        : await this.#db.allOffThread<{ n: number }>(
            `SELECT (SELECT count(*) FROM jobs WHERE tenant_id = ?1 AND state = 'queued')
               + coalesce((SELECT running FROM tenant_queue WHERE tenant_id = ?1), 0) AS n`,
            tenantId,
          );
    return row!.n;
  }

  async unfinishedIds(jobIds: readonly string[]): Promise<Set<string>> {
    const unfinished = new Set<string>();
    for (const id of jobIds) {
      const row = this.#db.get<{ id: string }>("SELECT id FROM jobs WHERE id = ? AND state <> 'done'", id);
      if (row) unfinished.add(row.id);
    }
    return unfinished;
  }

  async lease(leaseMs: number, options: LeaseOptions = {}): Promise<LeasedJob | undefined> {
    return this.#leaseOne(Date.now(), leaseMs, options);
  }

  async leaseMany(leaseMs: number, max: number, options: LeaseOptions = {}): Promise<LeasedJob[]> {
    return this.#db.immediate(() => this.#leaseUpTo(Date.now(), leaseMs, max, options));
  }

  /** One pick at a time: each counts the ones before it as running, as single leases would. */
  #leaseUpTo(now: number, leaseMs: number, max: number, options: LeaseOptions): LeasedJob[] {
    const leased: LeasedJob[] = [];
    while (leased.length < max) {
      const next = this.#leaseOne(now, leaseMs, options);
      if (!next) break;
      leased.push(next);
    }
    return leased;
  }

  #leaseOne(now: number, leaseMs: number, options: LeaseOptions): LeasedJob | undefined {
    const leaseNonce = randomUUID();
    // One statement: a write statement takes SQLite's write lock (waiting on busy_timeout) before it
    // reads, so no other connection can claim the same row between the pick and the update. An
    // expired lease (its worker died) is taken back first, whatever its tenant's count; else the
    // tenant comes from tenant_queue (fewest running, then oldest due, then id; kept by the triggers
    // of migration 007), then its oldest due job. coalesce() stops at the first non-NULL, so the
    // tenant is looked up only when no lease has expired. Two index lookups, however many tenants.
    const row = this.#db.get<JobRow>(
      `UPDATE jobs SET state = 'running', lease_token = seq || '.' || ?1, attempts = attempts + 1, started_at = ?2,
         next_attempt_at = ?3
       WHERE seq = coalesce(
         (SELECT seq FROM jobs WHERE state = 'running' AND next_attempt_at <= ?2
          ORDER BY next_attempt_at, seq LIMIT 1),
         (SELECT seq FROM jobs
          WHERE tenant_id = (SELECT tenant_id FROM tenant_queue
                             WHERE next_due <= ?2 AND (?4 = 0 OR running < ?4)
                             ORDER BY running, next_due, tenant_id LIMIT 1)
            AND state = 'queued' AND next_attempt_at <= ?2
          ORDER BY next_attempt_at, seq LIMIT 1))
       RETURNING ${JOB_COLUMNS}, (SELECT bytes FROM job_uploads u WHERE u.seq = jobs.seq) AS upload_bytes,
         (SELECT v.result FROM verdict_cache v
           WHERE ?5 <> '' AND v.signature_version = ?5 AND v.sha256 = json_extract(source, '$.sha256')
             AND json_extract(source, '$.kind') = 'upload') AS cached_result`,
      leaseNonce,
      now,
      now + leaseMs,
      options.maxRunningPerTenant ?? 0,
      options.verdictCacheKey ?? '',
    );
    if (!row) return undefined;
    return leasedJobFromRow(row, row.lease_token!);
  }

  async extendLease(jobId: string, leaseToken: string, leaseMs: number): Promise<boolean> {
    return this.#db.updateLeased(
      'jobs',
      leasedRow(jobId, leaseToken),
      leaseToken,
      'next_attempt_at = ?',
      Date.now() + leaseMs,
    );
  }

  async complete(
    jobId: string,
    leaseToken: string,
    result: ScanResult,
    delivery?: NewCallbackDelivery,
  ): Promise<boolean> {
    return this.#db.immediate(() => this.#completeOne(Date.now(), { jobId, leaseToken, result, delivery }));
  }

  async completeMany(completions: readonly JobCompletion[]): Promise<boolean[]> {
    if (completions.length === 0) return [];
    return this.#db.immediate(() => {
      const now = Date.now();
      return completions.map((completion) => this.#completeOne(now, completion));
    });
  }

  async completeAndLease(
    completions: readonly JobCompletion[],
    next: { leaseMs: number; max: number; options?: LeaseOptions },
  ): Promise<{ stored: boolean[]; leased: LeasedJob[] }> {
    if (completions.length === 0 && next.max <= 0) return { stored: [], leased: [] };
    // One write transaction (and one WAL commit) instead of two: the completions free their
    // tenants' running counts before the picks, as when the lease followed the commit.
    return this.#db.immediate(() => {
      const now = Date.now();
      const stored = completions.map((completion) => this.#completeOne(now, completion));
      return { stored, leased: this.#leaseUpTo(now, next.leaseMs, next.max, next.options ?? {}) };
    });
  }

  #completeOne(
    now: number,
    { jobId, leaseToken, result, delivery, verdictCacheEntry }: JobCompletion,
  ): boolean {
    if (verdictCacheEntry) putCachedVerdict(this.#db, verdictCacheEntry, now);
    const row = leasedRow(jobId, leaseToken);
    const finished = this.#db.get<{ tenant_id: string; seq: number }>(
      `UPDATE jobs SET state = 'done', result = ?, result_status = ?, completed_at = ?, lease_token = NULL
       WHERE ${row.where} AND lease_token = ? AND state = 'running' RETURNING tenant_id, seq`,
      JSON.stringify(result),
      result.status,
      now,
      ...row.values,
      leaseToken,
    );
    if (!finished) return false;
    this.#db.run('DELETE FROM job_uploads WHERE seq = ?', finished.seq);
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
  }

  async retry(jobId: string, leaseToken: string, error: string, retryAt: Date): Promise<boolean> {
    return this.#db.updateLeased(
      'jobs',
      leasedRow(jobId, leaseToken),
      leaseToken,
      "state = 'queued', lease_token = NULL, next_attempt_at = ?, last_error = ?",
      retryAt.getTime(),
      error,
    );
  }

  async release(jobId: string, leaseToken: string): Promise<boolean> {
    return this.#db.updateLeased(
      'jobs',
      leasedRow(jobId, leaseToken),
      leaseToken,
      "state = 'queued', lease_token = NULL, next_attempt_at = ?, attempts = max(attempts - 1, 0)",
      Date.now(),
    );
  }

  async sweepExpired(completedBefore: Date): Promise<{ jobs: number; deliveries: number }> {
    return this.#db.sweepExpired(completedBefore.getTime());
  }
}

/**
 * A job's lease token begins with its rowid ("<seq>.<uuid>"), so the writes that present it find the
 * row by rowid, on the table page the lease has just read, rather than through the id index, whose
 * leaf for a random id is seldom in the cache once millions of jobs are kept. The id and the whole
 * token are still compared. A token without a rowid (another store's, or made up) is looked up by id.
 */
function leasedRow(jobId: string, leaseToken: string): RowCondition {
  const seq = /^(\d{1,15})\./.exec(leaseToken)?.[1];
  return seq
    ? { where: 'seq = ? AND id = ?', values: [Number(seq), jobId] }
    : { where: 'id = ?', values: [jobId] };
}

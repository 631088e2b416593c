import { randomUUID } from 'node:crypto';
import type {
  BucketActionRecord,
  BucketActions,
  BucketObject,
  BucketObjectFilter,
  BucketScan,
  LeasedBucketScan,
  NewBucketScan,
  ObjectSettlement,
  ObjectToSettle,
  SightedObject,
} from '../bucket-scan.ts';
import type { ScanResult } from '../scan.ts';
import {
  counterFor,
  type Numeric,
  OBJECT_COLUMNS,
  type ObjectRow,
  objectFromRow,
  SCAN_COLUMNS,
  type ScanRow,
  scanFromRow,
} from './bucket-rows.ts';
import type { BucketScanStore } from './contracts.ts';

export type SqlValue = string | number | null;

/** The few operations the bucket store needs; `?` placeholders in every dialect. */
export interface SqlSession {
  get<T>(sql: string, values?: SqlValue[]): Promise<T | undefined>;
  all<T>(sql: string, values?: SqlValue[]): Promise<T[]>;
  /** Returns the number of rows changed. */
  run(sql: string, values?: SqlValue[]): Promise<number>;
}

export interface SqlExecutor extends SqlSession {
  readonly tables: { scans: string; objects: string; settings: string; jobs: string };
  open(): Promise<void>;
  close(): Promise<void>;
  /** Runs `work` in one write transaction; nothing else uses the session meanwhile. */
  transaction<T>(work: (session: SqlSession) => Promise<T>): Promise<T>;
  /** BucketScanStore.announceWork for this dialect. */
  announceWork(): Promise<void>;
}

/**
 * The bucket-scan store for both dialects: the statements are plain SQL both SQLite and PostgreSQL
 * run (times as epoch milliseconds from this process's clock, booleans as 0/1). Leases on scans are
 * fenced like job leases: every write made on behalf of a walker checks its token in the same
 * statement or transaction.
 */
export class SqlBucketScanStore implements BucketScanStore {
  readonly #sql: SqlExecutor;
  readonly #t: SqlExecutor['tables'];

  constructor(executor: SqlExecutor) {
    this.#sql = executor;
    this.#t = executor.tables;
  }

  init(): Promise<void> {
    return this.#sql.open();
  }

  close(): Promise<void> {
    return this.#sql.close();
  }

  async createScan(scan: NewBucketScan): Promise<BucketScan> {
    await this.#insertScan(this.#sql, scan);
    return (await this.#scanById(this.#sql, scan.id))!;
  }

  async #insertScan(session: SqlSession, scan: NewBucketScan): Promise<number> {
    const now = Date.now();
    // An event inbox has nothing to list: it only receives notifications.
    const listingDone = scan.origin === 'events' ? 1 : 0;
    return session.run(
      `INSERT INTO ${this.#t.scans} (id, tenant_id, origin, bucket, prefix, since, actions, state, listing_done,
         watch_interval_ms, next_pass_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [
        scan.id,
        scan.tenantId,
        scan.origin,
        scan.bucket,
        scan.prefix,
        scan.since?.getTime() ?? null,
        JSON.stringify(scan.actions),
        listingDone,
        scan.watchIntervalMs ?? null,
        scan.watchIntervalMs === undefined ? null : now + scan.watchIntervalMs,
        now,
        now,
      ],
    );
  }

  async #scanById(session: SqlSession, id: string): Promise<BucketScan | undefined> {
    const row = await session.get<ScanRow>(`SELECT ${SCAN_COLUMNS} FROM ${this.#t.scans} WHERE id = ?`, [id]);
    return row && scanFromRow(row);
  }

  async getScan(tenantId: string, id: string): Promise<BucketScan | undefined> {
    const row = await this.#sql.get<ScanRow>(
      `SELECT ${SCAN_COLUMNS} FROM ${this.#t.scans} WHERE id = ? AND tenant_id = ?`,
      [id, tenantId],
    );
    return row && scanFromRow(row);
  }

  async listScans(tenantId: string, limit: number): Promise<BucketScan[]> {
    const rows = await this.#sql.all<ScanRow>(
      `SELECT ${SCAN_COLUMNS} FROM ${this.#t.scans} WHERE tenant_id = ? ORDER BY created_at DESC, id LIMIT ?`,
      [tenantId, limit],
    );
    return rows.map(scanFromRow);
  }

  async eventInbox(tenantId: string, bucket: string, create: () => NewBucketScan): Promise<BucketScan> {
    const select = `SELECT ${SCAN_COLUMNS} FROM ${this.#t.scans}
      WHERE tenant_id = ? AND bucket = ? AND origin = 'events'`;
    const existing = await this.#sql.get<ScanRow>(select, [tenantId, bucket]);
    if (existing) return scanFromRow(existing);
    // Two nodes may create it at once: the unique index keeps the first.
    await this.#insertScan(this.#sql, create());
    return scanFromRow((await this.#sql.get<ScanRow>(select, [tenantId, bucket]))!);
  }

  async setPaused(tenantId: string, id: string, paused: boolean): Promise<BucketScan | undefined> {
    const changed = await this.#sql.run(
      `UPDATE ${this.#t.scans} SET paused = ?, updated_at = ? WHERE id = ? AND tenant_id = ? AND state = 'running'`,
      [paused ? 1 : 0, Date.now(), id, tenantId],
    );
    return changed === 1 ? this.getScan(tenantId, id) : undefined;
  }

  async cancelScan(tenantId: string, id: string): Promise<BucketScan | undefined> {
    const cancelled = await this.#sql.transaction(async (session) => {
      const now = Date.now();
      const changed = await session.run(
        `UPDATE ${this.#t.scans} SET state = 'cancelled', finished_at = ?, updated_at = ?, lease_token = NULL
         WHERE id = ? AND tenant_id = ? AND state = 'running'`,
        [now, now, id, tenantId],
      );
      if (changed !== 1) return false;
      // Only jobs nobody has leased yet: a running job finishes, and nobody acts on its verdict.
      await session.run(
        `DELETE FROM ${this.#t.jobs} WHERE state = 'queued' AND id IN
           (SELECT job_id FROM ${this.#t.objects} WHERE scan_id = ? AND state IN ('listed', 'queued'))`,
        [id],
      );
      await session.run(
        `UPDATE ${this.#t.objects} SET state = 'cancelled' WHERE scan_id = ? AND state IN ('listed', 'queued')`,
        [id],
      );
      return true;
    });
    return cancelled ? this.getScan(tenantId, id) : undefined;
  }

  announceWork(): Promise<void> {
    return this.#sql.announceWork();
  }

  async leaseScan(leaseMs: number): Promise<LeasedBucketScan | undefined> {
    const now = Date.now();
    // A read first: the walker asks every few hundred ms, and with no scan due a write statement
    // would still take SQLite's write lock from the job store each time.
    const due = await this.#sql.get<{ id: string }>(
      `SELECT id FROM ${this.#t.scans} WHERE state = 'running' AND lease_expires_at <= ?
       ORDER BY lease_expires_at, id LIMIT 1`,
      [now],
    );
    if (!due) return undefined;
    const leaseToken = randomUUID();
    // Claimed only if still free: another walker that read the same row gets nothing back.
    const row = await this.#sql.get<ScanRow>(
      `UPDATE ${this.#t.scans} SET lease_token = ?, lease_expires_at = ?
       WHERE id = ? AND state = 'running' AND lease_expires_at <= ?
       RETURNING ${SCAN_COLUMNS}`,
      [leaseToken, now + leaseMs, due.id, now],
    );
    return row && { scan: scanFromRow(row), leaseToken };
  }

  async nextScanDueAt(): Promise<Date | undefined> {
    const next = await this.#sql.get<{ due: Numeric | null }>(
      `SELECT MIN(lease_expires_at) AS due FROM ${this.#t.scans} WHERE state = 'running'`,
    );
    return next?.due == null ? undefined : new Date(Number(next.due));
  }

  async releaseScan(id: string, leaseToken: string, delayMs = 0): Promise<void> {
    await this.#sql.run(
      `UPDATE ${this.#t.scans} SET lease_token = NULL, lease_expires_at = ? WHERE id = ? AND lease_token = ?`,
      [Date.now() + delayMs, id, leaseToken],
    );
  }

  async #leasedScan(
    session: SqlSession,
    id: string,
    leaseToken: string,
  ): Promise<{ high_water: Numeric | null } | undefined> {
    return session.get<{ high_water: Numeric | null }>(
      `SELECT high_water FROM ${this.#t.scans} WHERE id = ? AND lease_token = ? AND state = 'running'`,
      [id, leaseToken],
    );
  }

  async #holdsLease(session: SqlSession, id: string, leaseToken: string): Promise<boolean> {
    return (await this.#leasedScan(session, id, leaseToken)) !== undefined;
  }

  async recordPage(
    id: string,
    leaseToken: string,
    objects: SightedObject[],
    next: { cursor?: string; listingDone: boolean; highWater?: Date },
  ): Promise<boolean> {
    return this.#sql.transaction(async (session) => {
      const held = await this.#leasedScan(session, id, leaseToken);
      if (!held) return false;
      const inserted = await this.#insertSightings(session, id, objects);
      const bytes = inserted.reduce((sum, object) => sum + object.size, 0);
      // A watch remembers the newest LastModified it saw: its next pass lists only from there.
      let highWater = held.high_water === null ? null : Number(held.high_water);
      if (next.highWater && (highWater === null || highWater < next.highWater.getTime())) {
        highWater = next.highWater.getTime();
      }
      await session.run(
        `UPDATE ${this.#t.scans} SET cursor = ?, listing_done = ?, listed = listed + ?, bytes_listed = bytes_listed + ?,
           high_water = ?, updated_at = ?
         WHERE id = ?`,
        [next.cursor ?? null, next.listingDone ? 1 : 0, inserted.length, bytes, highWater, Date.now(), id],
      );
      return true;
    });
  }

  async recordSightings(scanId: string, objects: SightedObject[]): Promise<SightedObject[]> {
    return this.#sql.transaction(async (session) => {
      const inserted = await this.#insertSightings(session, scanId, objects);
      const bytes = inserted.reduce((sum, object) => sum + object.size, 0);
      if (inserted.length > 0) {
        await session.run(
          // A free lease becomes free now: the walker settles the new objects without waiting out its idle pause.
          `UPDATE ${this.#t.scans} SET listed = listed + ?, bytes_listed = bytes_listed + ?, updated_at = ?,
             lease_expires_at = CASE WHEN lease_token IS NULL THEN 0 ELSE lease_expires_at END
           WHERE id = ?`,
          [inserted.length, bytes, Date.now(), scanId],
        );
      }
      return inserted;
    });
  }

  async #insertSightings(
    session: SqlSession,
    scanId: string,
    objects: SightedObject[],
  ): Promise<SightedObject[]> {
    const inserted: SightedObject[] = [];
    const now = Date.now();
    for (const object of objects) {
      const changed = await session.run(
        `INSERT INTO ${this.#t.objects} (scan_id, dedupe_key, object_key, version_id, etag, size, job_id, state, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'listed', ?) ON CONFLICT (scan_id, dedupe_key) DO NOTHING`,
        [
          scanId,
          object.dedupeKey,
          object.key,
          object.versionId ?? null,
          object.etag ?? null,
          object.size,
          object.jobId,
          now,
        ],
      );
      if (changed === 1) inserted.push(object);
    }
    return inserted;
  }

  async objectsToSubmit(scanId: string, limit: number): Promise<BucketObject[]> {
    const rows = await this.#sql.all<ObjectRow>(
      `SELECT ${OBJECT_COLUMNS} FROM ${this.#t.objects} WHERE scan_id = ? AND state = 'listed' ORDER BY seq LIMIT ?`,
      [scanId, limit],
    );
    return rows.map(objectFromRow);
  }

  async markSubmitted(scanId: string, seqs: number[]): Promise<void> {
    if (seqs.length === 0) return;
    await this.#sql.transaction(async (session) => {
      for (const seq of seqs) {
        await session.run(
          `UPDATE ${this.#t.objects} SET state = 'queued' WHERE scan_id = ? AND seq = ? AND state = 'listed'`,
          [scanId, seq],
        );
      }
    });
  }

  async objectsToSettle(scanId: string, limit: number): Promise<ObjectToSettle[]> {
    const rows = await this.#sql.all<ObjectRow & { job_state: string | null; job_result: unknown }>(
      `SELECT ${OBJECT_COLUMNS.replaceAll(/(\w+)/g, 'o.$1')}, j.state AS job_state, j.result AS job_result
       FROM ${this.#t.objects} o LEFT JOIN ${this.#t.jobs} j ON j.id = o.job_id
       WHERE o.scan_id = ? AND o.state = 'queued' AND (j.id IS NULL OR j.state = 'done')
       ORDER BY o.seq LIMIT ?`,
      [scanId, limit],
    );
    return rows.map((row) => {
      const settle: ObjectToSettle = { object: objectFromRow(row) };
      if (row.job_result !== null && row.job_result !== undefined) {
        // jsonb arrives parsed from PostgreSQL, text from SQLite.
        settle.result = (
          typeof row.job_result === 'string' ? JSON.parse(row.job_result) : row.job_result
        ) as ScanResult;
      }
      return settle;
    });
  }

  async countOutstanding(scanId: string): Promise<number> {
    const row = await this.#sql.get<{ n: Numeric }>(
      `SELECT count(*) AS n FROM ${this.#t.objects} WHERE scan_id = ? AND state IN ('listed', 'queued')`,
      [scanId],
    );
    return Number(row?.n ?? 0);
  }

  async settleObject(
    scanId: string,
    leaseToken: string,
    seq: number,
    settlement: ObjectSettlement,
  ): Promise<boolean> {
    return this.#sql.transaction(async (session) => {
      if (!(await this.#holdsLease(session, scanId, leaseToken))) return false;
      const now = Date.now();
      const changed = await session.run(
        `UPDATE ${this.#t.objects} SET state = 'settled', outcome = ?, finding = ?, actions = ?, settled_at = ?
         WHERE scan_id = ? AND seq = ? AND state = 'queued'`,
        [
          settlement.outcome,
          settlement.finding ?? null,
          JSON.stringify(settlement.actions),
          now,
          scanId,
          seq,
        ],
      );
      if (changed !== 1) return false;
      const counter = counterFor(settlement.outcome);
      await session.run(
        `UPDATE ${this.#t.scans} SET ${counter} = ${counter} + 1, bytes_settled = bytes_settled + ?, updated_at = ?
         WHERE id = ?`,
        [settlement.size, now, scanId],
      );
      return true;
    });
  }

  async requeueObject(
    scanId: string,
    leaseToken: string,
    seq: number,
    next: { jobId: string; etag?: string; versionId?: string; action: BucketActionRecord },
  ): Promise<boolean> {
    return this.#sql.transaction(async (session) => {
      if (!(await this.#holdsLease(session, scanId, leaseToken))) return false;
      const row = await session.get<{ actions: string }>(
        `SELECT actions FROM ${this.#t.objects} WHERE scan_id = ? AND seq = ? AND state = 'queued'`,
        [scanId, seq],
      );
      if (!row) return false;
      const actions = [...(JSON.parse(row.actions) as BucketActionRecord[]), next.action];
      // Back to 'listed' with a new job id: the walker submits it like any recorded object.
      await session.run(
        `UPDATE ${this.#t.objects} SET state = 'listed', job_id = ?, etag = ?, version_id = coalesce(?, version_id),
           scan_attempts = scan_attempts + 1, actions = ?
         WHERE scan_id = ? AND seq = ?`,
        [next.jobId, next.etag ?? null, next.versionId ?? null, JSON.stringify(actions), scanId, seq],
      );
      await session.run(`UPDATE ${this.#t.scans} SET rescans = rescans + 1, updated_at = ? WHERE id = ?`, [
        Date.now(),
        scanId,
      ]);
      return true;
    });
  }

  async finishScan(
    id: string,
    leaseToken: string,
    state: 'done' | 'failed',
    error?: string,
  ): Promise<boolean> {
    const now = Date.now();
    const changed = await this.#sql.run(
      `UPDATE ${this.#t.scans} SET state = ?, finished_at = ?, updated_at = ?, last_error = ?, lease_token = NULL
       WHERE id = ? AND lease_token = ? AND state = 'running'`,
      [state, now, now, error ?? null, id, leaseToken],
    );
    return changed === 1;
  }

  async startWatchPass(id: string, leaseToken: string, nextPassAt: Date, marginMs: number): Promise<boolean> {
    const changed = await this.#sql.run(
      `UPDATE ${this.#t.scans} SET cursor = NULL, listing_done = 0, next_pass_at = ?, updated_at = ?,
         since = CASE WHEN high_water IS NULL THEN since ELSE high_water - ? END
       WHERE id = ? AND lease_token = ? AND state = 'running' AND origin = 'watch'`,
      [nextPassAt.getTime(), Date.now(), marginMs, id, leaseToken],
    );
    return changed === 1;
  }

  async listObjects(tenantId: string, scanId: string, filter: BucketObjectFilter): Promise<BucketObject[]> {
    const conditions = ['o.scan_id = ?', 's.tenant_id = ?', 'o.seq > ?'];
    const values: SqlValue[] = [scanId, tenantId, filter.after ?? 0];
    if (filter.outcome) {
      conditions.push('o.outcome = ?');
      values.push(filter.outcome);
    }
    const rows = await this.#sql.all<ObjectRow>(
      `SELECT ${OBJECT_COLUMNS.replaceAll(/(\w+)/g, 'o.$1')}
       FROM ${this.#t.objects} o JOIN ${this.#t.scans} s ON s.id = o.scan_id
       WHERE ${conditions.join(' AND ')} ORDER BY o.seq LIMIT ?`,
      [...values, Math.min(Math.max(filter.limit, 1), 1000)],
    );
    return rows.map(objectFromRow);
  }

  async objectForJob(tenantId: string, jobId: string): Promise<BucketObject | undefined> {
    const row = await this.#sql.get<ObjectRow>(
      `SELECT ${OBJECT_COLUMNS.replaceAll(/(\w+)/g, 'o.$1')}
       FROM ${this.#t.objects} o JOIN ${this.#t.scans} s ON s.id = o.scan_id
       WHERE o.job_id = ? AND s.tenant_id = ?`,
      [jobId, tenantId],
    );
    return row && objectFromRow(row);
  }

  async sweepExpired(before: Date): Promise<{ scans: number; objects: number }> {
    const cutoff = before.getTime();
    return this.#sql.transaction(async (session) => {
      const ended = `SELECT id FROM ${this.#t.scans} WHERE state <> 'running' AND finished_at < ?`;
      let objects = await session.run(`DELETE FROM ${this.#t.objects} WHERE scan_id IN (${ended})`, [cutoff]);
      const scans = await session.run(
        `DELETE FROM ${this.#t.scans} WHERE state <> 'running' AND finished_at < ?`,
        [cutoff],
      );
      objects += await session.run(
        `DELETE FROM ${this.#t.objects} WHERE state = 'settled' AND settled_at < ?
           AND scan_id IN (SELECT id FROM ${this.#t.scans} WHERE origin <> 'scan')`,
        [cutoff],
      );
      return { scans, objects };
    });
  }

  async getTenantActions(tenantId: string): Promise<BucketActions | undefined> {
    const row = await this.#sql.get<{ actions: string }>(
      `SELECT actions FROM ${this.#t.settings} WHERE tenant_id = ?`,
      [tenantId],
    );
    return row && (JSON.parse(row.actions) as BucketActions);
  }

  async putTenantActions(tenantId: string, actions: BucketActions): Promise<void> {
    const now = Date.now();
    await this.#sql.transaction(async (session) => {
      await session.run(
        `INSERT INTO ${this.#t.settings} (tenant_id, actions, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (tenant_id) DO UPDATE SET actions = excluded.actions, updated_at = excluded.updated_at`,
        [tenantId, JSON.stringify(actions), now],
      );
      // Event inboxes have no actions of their own: they follow the tenant's defaults from now on.
      await session.run(
        `UPDATE ${this.#t.scans} SET actions = ?, updated_at = ?
         WHERE tenant_id = ? AND origin = 'events' AND state = 'running'`,
        [JSON.stringify(actions), now, tenantId],
      );
    });
  }
}

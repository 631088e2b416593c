import { randomUUID } from 'node:crypto';
import type { CallbackDelivery, FailedDeliveryPage } from '../../scan.ts';
import type { DeliveryOutbox, LeasedDelivery } from '../contracts.ts';
import {
  DELIVERY_COLUMNS,
  type DeliveryRow,
  deliveryFromRow,
  type FailedDeliveryRow,
  failedDeliveryPage,
  parseDeliveryCursor,
} from '../rows.ts';
import type { SqliteDatabase } from './database.ts';

/** The callback outbox on SQLite: rows written by SqliteJobQueue.complete, leased here. */
export class SqliteDeliveryOutbox implements DeliveryOutbox {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async lease(leaseMs: number): Promise<LeasedDelivery | undefined> {
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

  async markDelivered(deliveryId: string, leaseToken: string, statusCode: number): Promise<boolean> {
    return this.#db.updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      "state = 'delivered', lease_token = NULL, delivered_at = ?, last_status_code = ?",
      Date.now(),
      statusCode,
    );
  }

  async retry(
    deliveryId: string,
    leaseToken: string,
    error: string,
    statusCode: number | undefined,
    retryAt: Date,
  ): Promise<boolean> {
    return this.#db.updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      'lease_token = NULL, next_attempt_at = ?, last_error = ?, last_status_code = ?',
      retryAt.getTime(),
      error,
      statusCode ?? null,
    );
  }

  async fail(
    deliveryId: string,
    leaseToken: string,
    error: string,
    statusCode: number | undefined,
  ): Promise<boolean> {
    // A failed row is never leased again, so next_attempt_at is free to record when it failed.
    return this.#db.updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      "state = 'failed', lease_token = NULL, next_attempt_at = ?, last_error = ?, last_status_code = ?",
      Date.now(),
      error,
      statusCode ?? null,
    );
  }

  async release(deliveryId: string, leaseToken: string): Promise<boolean> {
    return this.#db.updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      'lease_token = NULL, next_attempt_at = ?, attempts = max(attempts - 1, 0)',
      Date.now(),
    );
  }

  async listForJob(tenantId: string, jobId: string): Promise<CallbackDelivery[]> {
    return this.#db
      .all<DeliveryRow>(
        `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE job_id = ? AND tenant_id = ? ORDER BY seq`,
        jobId,
        tenantId,
      )
      .map(deliveryFromRow);
  }

  async listFailed(
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
}

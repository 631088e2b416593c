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
import type { PostgresDatabase } from './database.ts';
import type { PostgresWorkNotifications } from './work-notifications.ts';

/** `now() + n ms` for a numeric parameter. */
const plusMs = (parameter: string) => `now() + ${parameter}::double precision * interval '1 millisecond'`;

/** The callback outbox on PostgreSQL: rows written by PostgresJobQueue.complete, leased here. */
export class PostgresDeliveryOutbox implements DeliveryOutbox {
  readonly #db: PostgresDatabase;
  readonly #notifications: PostgresWorkNotifications;

  constructor(db: PostgresDatabase, notifications: PostgresWorkNotifications) {
    this.#db = db;
    this.#notifications = notifications;
  }

  async lease(leaseMs: number): Promise<LeasedDelivery | undefined> {
    const leaseToken = randomUUID();
    const { rows } = await this.#db.query<DeliveryRow>(
      `UPDATE ${this.#db.tables.deliveries} SET lease_token = $1, attempts = attempts + 1,
         next_attempt_at = ${plusMs('$2')}
       WHERE seq = (SELECT seq FROM ${this.#db.tables.deliveries} WHERE state = 'pending' AND next_attempt_at <= now()
                    ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${DELIVERY_COLUMNS}`,
      [leaseToken, leaseMs],
    );
    if (!rows[0]) return undefined;
    const delivery = deliveryFromRow(rows[0]);
    return { delivery, leaseToken, leaseExpiresAt: delivery.nextAttemptAt };
  }

  async markDelivered(deliveryId: string, leaseToken: string, statusCode: number): Promise<boolean> {
    return this.#db.updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      "state = 'delivered', lease_token = NULL, delivered_at = now(), last_status_code = $3",
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
      'lease_token = NULL, next_attempt_at = $3, last_error = $4, last_status_code = $5',
      retryAt,
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
    return this.#db.updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      // A failed row is never leased again, so next_attempt_at is free to record when it failed.
      "state = 'failed', lease_token = NULL, next_attempt_at = now(), last_error = $3, last_status_code = $4",
      error,
      statusCode ?? null,
    );
  }

  async release(deliveryId: string, leaseToken: string): Promise<boolean> {
    const released = await this.#db.updateLeased(
      'deliveries',
      deliveryId,
      leaseToken,
      'lease_token = NULL, next_attempt_at = now(), attempts = greatest(attempts - 1, 0)',
    );
    if (released) await this.#db.announce(this.#notifications, 'deliveries');
    return released;
  }

  async listForJob(tenantId: string, jobId: string): Promise<CallbackDelivery[]> {
    const { rows } = await this.#db.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM ${this.#db.tables.deliveries} WHERE job_id = $1 AND tenant_id = $2 ORDER BY seq`,
      [jobId, tenantId],
    );
    return rows.map(deliveryFromRow);
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
    const { deliveries, jobs } = this.#db.tables;
    const { rows } = await this.#db.query<FailedDeliveryRow>(
      `SELECT d.seq, ${columns}, j.source FROM ${deliveries} d JOIN ${jobs} j ON j.id = d.job_id
       WHERE d.tenant_id = $1 AND d.url = $2 AND d.state = 'failed' AND d.seq < $3
       ORDER BY d.seq DESC LIMIT $4`,
      [tenantId, callbackUrl, before, limit + 1],
    );
    return failedDeliveryPage(rows, limit);
  }
}

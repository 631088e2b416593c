import type { ApiKeyRecord } from '../../scan.ts';
import type { KeyStore } from '../contracts.ts';
import { API_KEY_COLUMNS, type ApiKeyRow, apiKeyFromRow, duplicateApiKeyError } from '../rows.ts';
import { isUniqueViolation, type PostgresDatabase } from './database.ts';

/** API keys (stored as hashes) and per-tenant webhook secrets on PostgreSQL. */
export class PostgresKeyStore implements KeyStore {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async create(record: ApiKeyRecord): Promise<void> {
    try {
      await this.#db.query(
        `INSERT INTO ${this.#db.tables.apiKeys} (id, tenant_id, key_hash, prefix, created_at, revoked_at)
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

  async findByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const { rows } = await this.#db.query<ApiKeyRow>(
      `SELECT ${API_KEY_COLUMNS} FROM ${this.#db.tables.apiKeys} WHERE key_hash = $1`,
      [keyHash],
    );
    return rows[0] && apiKeyFromRow(rows[0]);
  }

  async list(): Promise<ApiKeyRecord[]> {
    const { rows } = await this.#db.query<ApiKeyRow>(
      `SELECT ${API_KEY_COLUMNS} FROM ${this.#db.tables.apiKeys} ORDER BY created_at, id`,
    );
    return rows.map(apiKeyFromRow);
  }

  async revoke(id: string): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      `UPDATE ${this.#db.tables.apiKeys} SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`,
      [id],
    );
    return (rowCount ?? 0) > 0;
  }

  async webhookSecret(tenantId: string, create: () => string): Promise<string> {
    const select = `SELECT secret FROM ${this.#db.tables.webhookSecrets} WHERE tenant_id = $1`;
    const existing = await this.#db.query<{ secret: string }>(select, [tenantId]);
    if (existing.rows[0]) return existing.rows[0].secret;
    // Another node may insert first: its secret wins and this one is dropped.
    await this.#db.query(
      `INSERT INTO ${this.#db.tables.webhookSecrets} (tenant_id, secret) VALUES ($1, $2)
       ON CONFLICT (tenant_id) DO NOTHING`,
      [tenantId, create()],
    );
    const stored = await this.#db.query<{ secret: string }>(select, [tenantId]);
    return stored.rows[0]!.secret;
  }
}

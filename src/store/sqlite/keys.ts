import type { ApiKeyRecord } from '../../scan.ts';
import type { KeyStore } from '../contracts.ts';
import { API_KEY_COLUMNS, type ApiKeyRow, apiKeyFromRow, duplicateApiKeyError } from '../rows.ts';
import { isUniqueViolation, type SqliteDatabase } from './database.ts';

/** API keys (stored as hashes) and per-tenant webhook secrets on SQLite. */
export class SqliteKeyStore implements KeyStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async create(record: ApiKeyRecord): Promise<void> {
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

  async findByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const row = this.#db.get<ApiKeyRow>(
      `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?`,
      keyHash,
    );
    return row && apiKeyFromRow(row);
  }

  async list(): Promise<ApiKeyRecord[]> {
    return this.#db
      .all<ApiKeyRow>(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`)
      .map(apiKeyFromRow);
  }

  async revoke(id: string): Promise<boolean> {
    const changed = this.#db.run(
      'UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?',
      Date.now(),
      id,
    );
    return changed > 0;
  }

  async webhookSecret(tenantId: string, create: () => string): Promise<string> {
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
}

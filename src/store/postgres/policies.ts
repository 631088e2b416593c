import type { ContentPolicy } from '../../scan.ts';
import type { PolicyStore } from '../contracts.ts';
import type { PostgresDatabase } from './database.ts';

/** Each tenant's content policy on PostgreSQL (docs/POLICY.md). */
export class PostgresPolicyStore implements PolicyStore {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async get(tenantId: string): Promise<ContentPolicy | undefined> {
    const { rows } = await this.#db.query<{ policy: ContentPolicy }>(
      `SELECT policy FROM ${this.#db.tables.tenantPolicies} WHERE tenant_id = $1`,
      [tenantId],
    );
    return rows[0]?.policy;
  }

  async set(tenantId: string, policy: ContentPolicy | undefined): Promise<void> {
    if (!policy) {
      await this.#db.query(`DELETE FROM ${this.#db.tables.tenantPolicies} WHERE tenant_id = $1`, [tenantId]);
      return;
    }
    await this.#db.query(
      `INSERT INTO ${this.#db.tables.tenantPolicies} (tenant_id, policy, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`,
      [tenantId, JSON.stringify(policy)],
    );
  }
}

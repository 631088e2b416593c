import type { ContentPolicy } from '../../scan.ts';
import type { PolicyStore } from '../contracts.ts';
import { fromJson } from '../rows.ts';
import type { SqliteDatabase } from './database.ts';

/** Each tenant's content policy on SQLite (docs/POLICY.md). */
export class SqlitePolicyStore implements PolicyStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async get(tenantId: string): Promise<ContentPolicy | undefined> {
    const row = this.#db.get<{ policy: string }>(
      'SELECT policy FROM tenant_policies WHERE tenant_id = ?',
      tenantId,
    );
    return row && fromJson<ContentPolicy>(row.policy);
  }

  async set(tenantId: string, policy: ContentPolicy | undefined): Promise<void> {
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
}

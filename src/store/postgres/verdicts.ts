import type { ScanResult } from '../../scan.ts';
import type { CachedVerdict, VerdictCache } from '../contracts.ts';
import type { PostgresDatabase } from './database.ts';

/** The verdict cache on PostgreSQL: one row per (sha256, engine and signature versions). */
export class PostgresVerdictCache implements VerdictCache {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async get(sha256: string, cacheKey: string): Promise<ScanResult | undefined> {
    const { rows } = await this.#db.query<{ result: ScanResult }>(
      `SELECT result FROM ${this.#db.tables.verdictCache} WHERE sha256 = $1 AND signature_version = $2`,
      [sha256, cacheKey],
    );
    return rows[0]?.result;
  }

  async put(entry: CachedVerdict): Promise<void> {
    await this.#db.query(...putCachedVerdictQuery(this.#db.tables.verdictCache, entry));
  }
}

/** Also run inside jobs.completeMany, with the result of the job that reached the verdict. */
export function putCachedVerdictQuery(table: string, entry: CachedVerdict): [string, unknown[]] {
  return [
    `INSERT INTO ${table} (sha256, signature_version, result) VALUES ($1, $2, $3)
     ON CONFLICT (sha256, signature_version) DO UPDATE SET result = excluded.result, created_at = now()`,
    [entry.sha256, entry.cacheKey, JSON.stringify(entry.result)],
  ];
}

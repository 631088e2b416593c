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
    await this.#db.query(upsertSql(this.#db.tables.verdictCache, 1), cachedVerdictValues(entry));
  }
}

function upsertSql(table: string, first: number): string {
  return `INSERT INTO ${table} (sha256, signature_version, result) VALUES ($${first}, $${first + 1}, $${first + 2})
    ON CONFLICT (sha256, signature_version) DO UPDATE SET result = excluded.result, created_at = now()`;
}

function cachedVerdictValues(entry: CachedVerdict): unknown[] {
  return [entry.sha256, entry.cacheKey, JSON.stringify(entry.result)];
}

/**
 * The upsert as a CTE named `cached`, its parameters numbered from `first`: jobs.completeMany
 * writes the entry in the statement that stores the job's result.
 */
export function cachedVerdictCte(
  table: string,
  entry: CachedVerdict,
  first: number,
): { cte: string; values: unknown[] } {
  return { cte: `cached AS (${upsertSql(table, first)})`, values: cachedVerdictValues(entry) };
}

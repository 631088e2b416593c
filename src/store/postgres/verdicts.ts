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

/** An upsert of `rows` entries, their parameters numbered from `first`, three to an entry. */
function upsertSql(table: string, first: number, rows = 1): string {
  const values = Array.from({ length: rows }, (_, row) => {
    const at = first + row * 3;
    return `($${at}, $${at + 1}, $${at + 2}::jsonb)`;
  });
  return `INSERT INTO ${table} (sha256, signature_version, result) VALUES ${values.join(', ')}
    ON CONFLICT (sha256, signature_version) DO UPDATE SET result = excluded.result, created_at = now()`;
}

function cachedVerdictValues(entry: CachedVerdict): unknown[] {
  return [entry.sha256, entry.cacheKey, JSON.stringify(entry.result)];
}

/**
 * One upsert for the entries of a batch of completions, in (sha256, cacheKey) order and each key
 * once (a second row for the same key in one statement is an error). jobs.completeMany runs it
 * before the completions, so every writer takes verdict cache rows before verdict counter rows, each
 * in a fixed order, as a single completion's statement does (its cache CTE before its triggers).
 */
export function cachedVerdictsUpsert(
  table: string,
  entries: readonly CachedVerdict[],
): { sql: string; values: unknown[] } | undefined {
  const byKey = new Map(entries.map((entry) => [`${entry.sha256}\u0000${entry.cacheKey}`, entry]));
  if (byKey.size === 0) return undefined;
  const sorted = [...byKey.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, entry]) => entry);
  return { sql: upsertSql(table, 1, sorted.length), values: sorted.flatMap(cachedVerdictValues) };
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

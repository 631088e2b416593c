import type { ScanResult } from '../../scan.ts';
import type { CachedVerdict, VerdictCache } from '../contracts.ts';
import type { SqliteDatabase } from './database.ts';

/** The verdict cache on SQLite: one row per (sha256, engine and signature versions). */
export class SqliteVerdictCache implements VerdictCache {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async get(sha256: string, cacheKey: string): Promise<ScanResult | undefined> {
    const row = this.#db.get<{ result: string }>(
      'SELECT result FROM verdict_cache WHERE sha256 = ? AND signature_version = ?',
      sha256,
      cacheKey,
    );
    return row && (JSON.parse(row.result) as ScanResult);
  }

  async put(entry: CachedVerdict): Promise<void> {
    putCachedVerdict(this.#db, entry, Date.now());
  }
}

/** Also run inside jobs.completeMany, with the result of the job that reached the verdict. */
export function putCachedVerdict(db: SqliteDatabase, entry: CachedVerdict, now: number): void {
  db.run(
    `INSERT INTO verdict_cache (sha256, signature_version, result, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (sha256, signature_version)
     DO UPDATE SET result = excluded.result, created_at = excluded.created_at`,
    entry.sha256,
    entry.cacheKey,
    JSON.stringify(entry.result),
    now,
  );
}

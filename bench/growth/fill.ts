import { statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';

/*
 * Bulk fills for `npm run bench:growth`, in SQL as the issue asks (not through the API: ten million
 * submits would take hours). The rows look like the store's own: the same columns, valid JSON for
 * source and result, times in the retention window. The bench names its own tenants:
 *   retained results: half `tenant-big` (the tenant whose stats and lists are read), half spread
 *     over `tenant-0` … `tenant-9998`; completed at pseudo-random instants over the last 22 hours;
 *   queued jobs: spread over `tenant-0` … `tenant-<tenants - 1>`, all due;
 *   expired results (the sweep's work): completed 25–26 hours ago.
 */

export const BIG_TENANT = 'tenant-big';
export const SMALL_TENANT = 'tenant-42';
const RETAINED_SPAN_MS = 22 * 3_600_000;
const CHUNK_ROWS = 500_000;

export const CLEAN_RESULT =
  '{"status":"clean","size":1024,"sha256":"' +
  'a'.repeat(64) +
  '","engine":"ClamAV 1.4.6","engineVersion":"1.4.6","signatureVersion":"27000","scanTimeMs":2}';
export const INFECTED_RESULT =
  '{"status":"infected","finding":"Eicar-Test-Signature","size":68,"sha256":"' +
  'b'.repeat(64) +
  '","engine":"ClamAV 1.4.6","engineVersion":"1.4.6","signatureVersion":"27000","scanTimeMs":2}';
const SOURCE = `{"kind":"upload","blobKey":"uploads/bulk","filename":"file.bin","size":1024,"sha256":"${'a'.repeat(64)}"}`;

/** The retained row `i`'s tenant, id and trace id, as the fill writes them (the bench looks them up). */
export function retainedRow(i: number): { tenantId: string; id: string; traceId: string } {
  return {
    tenantId: i % 2 === 0 ? BIG_TENANT : `tenant-${Math.floor(i / 2) % 9999}`,
    id: `r-${i}`,
    traceId: `tr-${i}`,
  };
}

export interface StorageFigures {
  bytes: number;
  detail: Record<string, number>;
}

export interface GrowthStore {
  readonly dialect: 'sqlite' | 'postgres';
  /** Adds retained results numbered [from, to). */
  addRetained(from: number, to: number): Promise<void>;
  /**
   * Adds `count` due queued jobs over `tenants` tenants; returns the seq range for removeQueued. Their
   * ids are random, as the service's UUIDs are: ids in claim order would keep the id index's leaves
   * warm for every completion, which real jobs never do.
   */
  addQueued(count: number, tenants: number, prefix: string): Promise<{ firstSeq: number; lastSeq: number }>;
  removeRange(range: { firstSeq: number; lastSeq: number }): Promise<void>;
  /** The newest job's seq (0 when empty): where the jobs added from now on start. */
  lastSeq(): Promise<number>;
  addExpired(count: number): Promise<void>;
  countRows(): Promise<{ jobs: number; unfinished: number }>;
  /** Finished jobs completed before `cutoff`: what a sweep with that cutoff has left to delete. */
  countExpired(cutoff: Date): Promise<number>;
  storage(): Promise<StorageFigures>;
  explain(sql: string, values: unknown[]): Promise<string[]>;
  close(): Promise<void>;
}

function chunks(from: number, to: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let start = from; start < to; start += CHUNK_ROWS)
    ranges.push([start, Math.min(to, start + CHUNK_ROWS)]);
  return ranges;
}

export class SqliteGrowthStore implements GrowthStore {
  readonly dialect = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #file: string;

  constructor(file: string) {
    this.#file = file;
    this.#db = new DatabaseSync(file, { timeout: 60_000 });
  }

  #series(from: number, to: number): string {
    return `WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${to - 1})`;
  }

  async addRetained(from: number, to: number): Promise<void> {
    const now = Date.now();
    for (const [start, end] of chunks(from, to)) {
      this.#db.exec(`${this.#series(start, end)}
        INSERT INTO jobs (id, tenant_id, trace_id, dialect, source, state, attempts, created_at, started_at,
          completed_at, next_attempt_at, result, result_status)
        SELECT 'r-' || i, CASE WHEN i % 2 = 0 THEN '${BIG_TENANT}' ELSE 'tenant-' || ((i / 2) % 9999) END,
          'tr-' || i, 'native', '${SOURCE}', 'done', 1, t - 1500, t - 1000, t, t - 1000,
          CASE WHEN i % 1000 = 7 THEN '${INFECTED_RESULT}' ELSE '${CLEAN_RESULT}' END,
          CASE WHEN i % 1000 = 7 THEN 'infected' ELSE 'clean' END
        FROM (SELECT i, ${now} - ((i * 7919) % ${RETAINED_SPAN_MS}) AS t FROM n)`);
    }
    this.#checkpoint();
  }

  /**
   * Adds `count` results completed in [fromMs, toMs), in time order as a running service writes them:
   * random ids (job ids are UUIDs), random trace ids, half the big tenant's, half spread at random
   * over the others. The rolling churn (churn.ts) adds each simulated hour's results with this.
   */
  addCompletedBetween(count: number, fromMs: number, toMs: number): void {
    for (const [start, end] of chunks(0, count)) {
      this.#db.exec(`${this.#series(start, end)}
        INSERT INTO jobs (id, tenant_id, trace_id, dialect, source, state, attempts, created_at, started_at,
          completed_at, next_attempt_at, result, result_status)
        SELECT lower(hex(randomblob(16))),
          CASE WHEN i % 2 = 0 THEN '${BIG_TENANT}' ELSE 'tenant-' || (abs(random()) % 9999) END,
          lower(hex(randomblob(8))), 'native', '${SOURCE}', 'done', 1, t - 1500, t - 1000, t, t - 1000,
          CASE WHEN i % 1000 = 7 THEN '${INFECTED_RESULT}' ELSE '${CLEAN_RESULT}' END,
          CASE WHEN i % 1000 = 7 THEN 'infected' ELSE 'clean' END
        FROM (SELECT i, ${fromMs} + (i * ${toMs - fromMs}) / ${count} AS t FROM n)`);
    }
  }

  async addQueued(
    count: number,
    tenants: number,
    prefix: string,
  ): Promise<{ firstSeq: number; lastSeq: number }> {
    const before = this.#maxSeq();
    const now = Date.now();
    for (const [start, end] of chunks(0, count)) {
      this.#db.exec(`${this.#series(start, end)}
        INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, next_attempt_at)
        SELECT '${prefix}-' || lower(hex(randomblob(16))), 'tenant-' || (i % ${tenants}), 'native', '${SOURCE}', 'queued', 0,
          ${now} - 60000 + i / 1000, ${now} - 60000 + i / 1000 FROM n`);
    }
    this.#checkpoint();
    return { firstSeq: before + 1, lastSeq: this.#maxSeq() };
  }

  async removeRange(range: { firstSeq: number; lastSeq: number }): Promise<void> {
    for (let start = range.firstSeq; start <= range.lastSeq; start += CHUNK_ROWS) {
      this.#db
        .prepare('DELETE FROM jobs WHERE seq BETWEEN ? AND ?')
        .run(start, Math.min(range.lastSeq, start + CHUNK_ROWS - 1));
    }
    this.#checkpoint();
  }

  async addExpired(count: number): Promise<void> {
    const now = Date.now();
    for (const [start, end] of chunks(0, count)) {
      this.#db.exec(`${this.#series(start, end)}
        INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, started_at, completed_at,
          next_attempt_at, result, result_status)
        SELECT 'x-' || i || '-' || ${now}, 'tenant-' || (i % 9999), 'native', '${SOURCE}', 'done', 1, t - 1500,
          t - 1000, t, t - 1000, '${CLEAN_RESULT}', 'clean'
        FROM (SELECT i, ${now} - 25 * 3600000 - (i % 3600000) AS t FROM n)`);
    }
    this.#checkpoint();
  }

  async countRows(): Promise<{ jobs: number; unfinished: number }> {
    const jobs = (
      this.#db.prepare('SELECT max(seq) - min(seq) + 1 AS n FROM jobs').get() as { n: number | null }
    ).n;
    const unfinished = (
      this.#db.prepare("SELECT count(*) AS n FROM jobs WHERE state <> 'done'").get() as { n: number }
    ).n;
    return { jobs: jobs ?? 0, unfinished };
  }

  async countExpired(cutoff: Date): Promise<number> {
    const row = this.#db
      .prepare("SELECT count(*) AS n FROM jobs WHERE state = 'done' AND completed_at < ?")
      .get(cutoff.getTime()) as { n: number };
    return row.n;
  }

  async storage(): Promise<StorageFigures> {
    const pragma = (name: string) =>
      Object.values(this.#db.prepare(`PRAGMA ${name}`).get() as object)[0] as number;
    const size = (suffix: string) => {
      try {
        return statSync(this.#file + suffix).size;
      } catch {
        return 0;
      }
    };
    const detail = {
      fileBytes: size(''),
      walBytes: size('-wal'),
      pageSize: pragma('page_size'),
      pageCount: pragma('page_count'),
      freelistCount: pragma('freelist_count'),
      autoVacuum: pragma('auto_vacuum'),
    };
    // The file's length lags behind page_count until a checkpoint truncates it; pages are what the
    // database holds. The WAL is reported beside it (bounded by journal_size_limit).
    return { bytes: detail.pageCount * detail.pageSize, detail: { ...detail, ...this.#btrees() } };
  }

  /**
   * Pages and fill (bytes used / page bytes) of each table and index: which b-trees a churn grows,
   * and whether with pages (more rows) or with room left in them (pages half emptied). dbstat reads
   * every page, a few seconds per GiB.
   */
  #btrees(): Record<string, number> {
    const rows = this.#db
      .prepare(
        `SELECT name, count(*) AS pages, sum(pgsize - unused) * 1.0 / sum(pgsize) AS fill
         FROM dbstat GROUP BY name ORDER BY name`,
      )
      .all() as { name: string; pages: number; fill: number }[];
    // The bench's own submits stay queued (no workers): rows that grow the file beside the churn.
    const counted = this.#db
      .prepare(`SELECT count(*) AS jobs, count(*) FILTER (WHERE state <> 'done') AS unfinished FROM jobs`)
      .get() as { jobs: number; unfinished: number };
    const figures: Record<string, number> = { jobRows: counted.jobs, unfinishedJobRows: counted.unfinished };
    for (const row of rows) {
      figures[`pages:${row.name}`] = row.pages;
      figures[`fill:${row.name}`] = Math.round(row.fill * 1000) / 1000;
    }
    return figures;
  }

  async explain(sql: string, values: unknown[]): Promise<string[]> {
    return (
      this.#db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(values as never[])) as { detail: string }[]
    ).map((row) => row.detail);
  }

  async lastSeq(): Promise<number> {
    return this.#maxSeq();
  }

  /**
   * Copies a fill's pages out of the WAL, as an import finished long ago would have: otherwise the
   * service's first checkpoint after a fill copies tens of MiB beside the next measurement (the first
   * 200-claim windows after a 100,000-job fill ran at 0.45–1.27 ms per claim against ~0.19 after).
   */
  #checkpoint(): void {
    this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  }

  #maxSeq(): number {
    return (this.#db.prepare('SELECT coalesce(max(seq), 0) AS n FROM jobs').get() as { n: number }).n;
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

export class PostgresGrowthStore implements GrowthStore {
  readonly dialect = 'postgres' as const;
  readonly #client: pg.Client;
  readonly #schema: string;

  constructor(connectionString: string, schema: string) {
    // The plans the store gets: its pool asks for generic plans (src/store/postgres/database.ts).
    this.#client = new pg.Client({ connectionString, options: '-c plan_cache_mode=force_generic_plan' });
    this.#schema = schema;
  }

  async open(): Promise<void> {
    await this.#client.connect();
    await this.#client.query(`SET search_path TO "${this.#schema}"`);
  }

  async addRetained(from: number, to: number): Promise<void> {
    for (const [start, end] of chunks(from, to)) {
      await this.#client.query(`INSERT INTO jobs (id, tenant_id, trace_id, dialect, source, state, attempts,
          created_at, started_at, completed_at, next_attempt_at, result, result_status)
        SELECT 'r-' || i, CASE WHEN i % 2 = 0 THEN '${BIG_TENANT}' ELSE 'tenant-' || ((i / 2) % 9999) END,
          'tr-' || i, 'native', '${SOURCE}'::jsonb, 'done', 1, t - interval '1.5 s', t - interval '1 s', t,
          t - interval '1 s',
          (CASE WHEN i % 1000 = 7 THEN '${INFECTED_RESULT}' ELSE '${CLEAN_RESULT}' END)::jsonb,
          CASE WHEN i % 1000 = 7 THEN 'infected' ELSE 'clean' END
        FROM (SELECT i, now() - ((i::bigint * 7919) % ${RETAINED_SPAN_MS}) * interval '1 ms' AS t
              FROM generate_series(${start}::bigint, ${end - 1}::bigint) i) s`);
    }
    await this.#client.query('ANALYZE jobs');
  }

  async addQueued(
    count: number,
    tenants: number,
    prefix: string,
  ): Promise<{ firstSeq: number; lastSeq: number }> {
    const before = await this.#maxSeq();
    for (const [start, end] of chunks(0, count)) {
      await this.#client.query(`INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at,
          next_attempt_at)
        SELECT '${prefix}-' || md5(random()::text || i), 'tenant-' || (i % ${tenants}), 'native', '${SOURCE}'::jsonb, 'queued', 0,
          now() - interval '60 s' + i * interval '1 us', now() - interval '60 s' + i * interval '1 us'
        FROM generate_series(${start}::bigint, ${end - 1}::bigint) i`);
    }
    await this.#client.query('ANALYZE jobs, tenant_queue');
    return { firstSeq: before + 1, lastSeq: await this.#maxSeq() };
  }

  async removeRange(range: { firstSeq: number; lastSeq: number }): Promise<void> {
    for (let start = range.firstSeq; start <= range.lastSeq; start += CHUNK_ROWS) {
      await this.#client.query('DELETE FROM jobs WHERE seq BETWEEN $1 AND $2', [
        start,
        Math.min(range.lastSeq, start + CHUNK_ROWS - 1),
      ]);
    }
    await this.#client.query('VACUUM ANALYZE jobs, tenant_queue');
  }

  async addExpired(count: number): Promise<void> {
    const stamp = Date.now();
    for (const [start, end] of chunks(0, count)) {
      await this.#client.query(`INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at,
          started_at, completed_at, next_attempt_at, result, result_status)
        SELECT 'x-' || i || '-${stamp}', 'tenant-' || (i % 9999), 'native', '${SOURCE}'::jsonb, 'done', 1,
          t - interval '1.5 s', t - interval '1 s', t, t - interval '1 s', '${CLEAN_RESULT}'::jsonb, 'clean'
        FROM (SELECT i, now() - interval '25 hours' - (i % 3600000) * interval '1 ms' AS t
              FROM generate_series(${start}::bigint, ${end - 1}::bigint) i) s`);
    }
    await this.#client.query('ANALYZE jobs');
  }

  async countRows(): Promise<{ jobs: number; unfinished: number }> {
    const { rows } = await this.#client.query<{ jobs: string; unfinished: string }>(
      `SELECT (SELECT reltuples::bigint FROM pg_class WHERE oid = 'jobs'::regclass) AS jobs,
         (SELECT count(*) FROM jobs WHERE state <> 'done') AS unfinished`,
    );
    return { jobs: Number(rows[0]!.jobs), unfinished: Number(rows[0]!.unfinished) };
  }

  async countExpired(cutoff: Date): Promise<number> {
    const { rows } = await this.#client.query<{ n: string }>(
      "SELECT count(*) AS n FROM jobs WHERE state = 'done' AND completed_at < $1",
      [cutoff],
    );
    return Number(rows[0]!.n);
  }

  async storage(): Promise<StorageFigures> {
    const { rows } = await this.#client.query<{ name: string; table_bytes: string; index_bytes: string }>(
      `SELECT c.relname AS name, pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [this.#schema],
    );
    const detail: Record<string, number> = {};
    let bytes = 0;
    for (const row of rows) {
      detail[`${row.name}TableBytes`] = Number(row.table_bytes);
      detail[`${row.name}IndexBytes`] = Number(row.index_bytes);
      bytes += Number(row.table_bytes) + Number(row.index_bytes);
    }
    return { bytes, detail };
  }

  async explain(sql: string, values: unknown[]): Promise<string[]> {
    const { rows } = await this.#client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, values);
    return rows.map((row) => row['QUERY PLAN']);
  }

  lastSeq(): Promise<number> {
    return this.#maxSeq();
  }

  async #maxSeq(): Promise<number> {
    const { rows } = await this.#client.query<{ n: string }>('SELECT coalesce(max(seq), 0) AS n FROM jobs');
    return Number(rows[0]!.n);
  }

  async close(): Promise<void> {
    await this.#client.end();
  }
}

import { randomUUID } from 'node:crypto';
import { SqlBucketScanStore, type SqlExecutor, type SqlSession, type SqlValue } from '../bucket-scans.ts';
import { PostgresDatabase } from './database.ts';
import { workChannel } from './work-notifications.ts';

interface Queryable {
  query(sql: string, values: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/** `?` placeholders (shared with SQLite) become PostgreSQL's `$1, $2, …`. */
function numbered(sql: string): string {
  let index = 0;
  return sql.replaceAll('?', () => `$${++index}`);
}

function sessionOver(queryable: Queryable): SqlSession {
  return {
    async get<T>(sql: string, values: SqlValue[] = []) {
      const { rows } = await queryable.query(numbered(sql), values);
      return rows[0] as T | undefined;
    },
    async all<T>(sql: string, values: SqlValue[] = []) {
      const { rows } = await queryable.query(numbered(sql), values);
      return rows as T[];
    },
    async run(sql: string, values: SqlValue[] = []) {
      const result = await queryable.query(numbered(sql), values);
      return result.rowCount ?? 0;
    },
  };
}

/** Bucket scans in the PostgreSQL schema of the job store, on a small pool of their own. */
class PostgresExecutor implements SqlExecutor {
  readonly tables: SqlExecutor['tables'];
  readonly #db: PostgresDatabase;
  readonly #session: SqlSession;
  /** Walkers listen on the job store's connection; this store only sends (its own wake-ups are harmless). */
  readonly #announcements: { channel(): string; origin: string };

  constructor(connectionString: string, poolSize: number, schema: string) {
    this.#db = new PostgresDatabase(connectionString, poolSize, schema);
    const channel = workChannel(schema, 'buckets');
    this.#announcements = { channel: () => channel, origin: randomUUID() };
    const qualified = (table: string) => `"${schema}".${table}`;
    this.tables = {
      scans: qualified('bucket_scans'),
      objects: qualified('bucket_scan_objects'),
      settings: qualified('bucket_tenant_settings'),
      jobs: this.#db.tables.jobs,
    };
    this.#session = sessionOver(this.#db);
  }

  open(): Promise<void> {
    return this.#db.migrate();
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  get<T>(sql: string, values?: SqlValue[]): Promise<T | undefined> {
    return this.#session.get<T>(sql, values);
  }

  all<T>(sql: string, values?: SqlValue[]): Promise<T[]> {
    return this.#session.all<T>(sql, values);
  }

  run(sql: string, values?: SqlValue[]): Promise<number> {
    return this.#session.run(sql, values);
  }

  transaction<T>(work: (session: SqlSession) => Promise<T>): Promise<T> {
    return this.#db.transaction((client) => work(sessionOver(client)));
  }

  announceWork(): Promise<void> {
    return this.#db.announce(this.#announcements, 'buckets');
  }
}

export class PostgresBucketScanStore extends SqlBucketScanStore {
  constructor(connectionString: string, poolSize: number, schema = 'public') {
    super(new PostgresExecutor(connectionString, poolSize, schema));
  }
}

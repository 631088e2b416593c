import pg from 'pg';
import { messageOf, ScanGateError } from '../../errors.ts';
import type { WorkQueue } from '../contracts.ts';
import { loadMigrations } from '../migrations.ts';

/** Node socket errors that mean the server cannot be reached (or went away mid-query). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** SQLSTATEs of a server that is down, restarting or full (class 08 is matched by prefix). */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** pg's own messages for a pool or client that lost its connection. */
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Cannot use a pool after calling end',
];

export type Queryable = Pick<pg.PoolClient, 'query'>;

export interface Tables {
  jobs: string;
  deliveries: string;
  verdictCache: string;
  apiKeys: string;
  webhookSecrets: string;
  tenantPolicies: string;
  verdictCounts: string;
  tenantQueue: string;
}

/** How long a connection may sit idle inside an open transaction before the server ends it. */
export const STALLED_TRANSACTION_MS = 30_000;

/**
 * The pool behind the PostgreSQL store: schema-qualified table names (no reliance on search_path,
 * which poolers like pgbouncer do not carry), migrations, transactions, and the error mapping
 * (server unreachable → ScanGateError('store_unavailable', retryable)).
 */
export class PostgresDatabase {
  readonly schema: string;
  readonly tables: Tables;
  readonly #pool: pg.Pool;

  constructor(
    connectionString: string,
    poolSize: number,
    schema: string,
    { stalledTransactionMs = STALLED_TRANSACTION_MS }: { stalledTransactionMs?: number } = {},
  ) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new ScanGateError('invalid_request', `"${schema}" is not a valid PostgreSQL schema name`);
    }
    this.schema = schema;
    const qualified = (table: string) => `"${schema}".${table}`;
    this.tables = {
      jobs: qualified('jobs'),
      deliveries: qualified('deliveries'),
      verdictCache: qualified('verdict_cache'),
      apiKeys: qualified('api_keys'),
      webhookSecrets: qualified('webhook_secrets'),
      tenantPolicies: qualified('tenant_policies'),
      verdictCounts: qualified('verdict_counts'),
      tenantQueue: qualified('tenant_queue'),
    };
    this.#pool = new pg.Pool({
      connectionString,
      max: poolSize,
      connectionTimeoutMillis: 5_000,
      application_name: 'scangate',
      // Named (prepared) statements keep one plan: the lease query's plan does not depend on its
      // parameters, and planning it (a tenant walk, ~10 lookups) costs more than running it.
      // Unnamed statements, everything else, are planned per execution as before.
      // A transaction of scangate waits for nothing but this database. One whose process stalls
      // between statements (a paused VM, SIGSTOP, a debugger) would hold its row locks, the
      // tenant's counter row among them, and stall every node's completions: the server ends it.
      options: `-c plan_cache_mode=force_generic_plan -c idle_in_transaction_session_timeout=${stalledTransactionMs}`,
    });
    // An idle client that loses its connection is discarded by the pool; without a listener the
    // 'error' event would crash the process. The next query reports store_unavailable instead.
    this.#pool.on('error', () => {});
  }

  /**
   * `name` makes it a prepared statement on each connection: planned once and reused, for the
   * statements that run constantly (the lease query), whose planning costs more than running them.
   */
  async query<Row extends object = Record<string, unknown>>(
    sql: string,
    values: unknown[] = [],
    name?: string,
  ): Promise<pg.QueryResult<Row>> {
    try {
      return await this.#pool.query<Row>(name ? { name, text: sql, values } : sql, name ? undefined : values);
    } catch (error) {
      throw toStoreError(error);
    }
  }

  /**
   * The fencing update: changes one leased row only while the caller still holds its lease (same
   * token, still in its leased state). $1 is the id, $2 the token, `values` follow from $3.
   */
  async updateLeased(
    table: 'jobs' | 'deliveries',
    id: string,
    leaseToken: string,
    assignments: string,
    ...values: unknown[]
  ): Promise<boolean> {
    const leasedState = table === 'jobs' ? 'running' : 'pending';
    const { rowCount } = await this.query(
      `UPDATE ${this.tables[table]} SET ${assignments}
       WHERE id = $1 AND lease_token = $2 AND state = '${leasedState}'`,
      [id, leaseToken, ...values],
    );
    return rowCount === 1;
  }

  /** Tells the other processes' workers that `queue` has work due (after a commit of its own). */
  async announce(
    notifications: { channel(queue: WorkQueue): string; origin: string },
    queue: WorkQueue,
  ): Promise<void> {
    await this.query('SELECT pg_notify($1, $2)', [notifications.channel(queue), notifications.origin]);
  }

  async transaction<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw toStoreError(error);
    }
    let broken: Error | undefined;
    // The pool listens for errors only on idle clients. A connection the server ends while this one
    // is checked out between two statements (see STALLED_TRANSACTION_MS) would emit an 'error'
    // nobody hears, which crashes the process; noted here, it fails the transaction instead.
    const noteBroken = (error: Error) => {
      broken = error;
    };
    client.on('error', noteBroken);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A failed ROLLBACK means the connection is gone: hand it back as broken so the pool drops it.
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw toStoreError(error);
    } finally {
      client.off('error', noteBroken);
      client.release(broken);
    }
  }

  /**
   * Creates the schema and applies missing migrations in one transaction. The advisory lock makes
   * nodes that start together take turns: the first migrates, the others then find nothing to do.
   */
  async migrate(): Promise<void> {
    const schema = `"${this.schema}"`;
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `scangate.migrate.${this.schema}`,
      ]);
      // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when it exists.
      const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.schema]);
      if (found.rowCount === 0) await client.query(`CREATE SCHEMA ${schema}`);
      await client.query(`SET LOCAL search_path TO ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const applied = await client.query<{ version: number }>(
        'SELECT coalesce(max(version), 0)::integer AS version FROM schema_migrations',
      );
      const current = applied.rows[0]?.version ?? 0;
      for (const migration of loadMigrations('postgres')) {
        if (migration.version <= current) continue;
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          migration.version,
          migration.name,
        ]);
      }
    });
  }

  async close(): Promise<void> {
    if (!this.#pool.ended && !this.#pool.ending) await this.#pool.end();
  }
}

export function isConnectionFailure(error: unknown): boolean {
  if (error instanceof AggregateError && error.errors.some(isConnectionFailure)) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08/.test(code)) return true;
  }
  return CONNECTION_MESSAGES.some((message) => error.message.includes(message));
}

function toStoreError(error: unknown): unknown {
  if (error instanceof ScanGateError || !isConnectionFailure(error)) return error;
  return new ScanGateError('store_unavailable', `PostgreSQL job store unavailable: ${messageOf(error)}`, {
    retryable: true,
    cause: error,
  });
}

/** PostgreSQL unique_violation on the named constraint or index. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const { code, constraint: violated } = error as { code?: unknown; constraint?: unknown };
  return code === '23505' && (constraint === undefined || violated === constraint);
}

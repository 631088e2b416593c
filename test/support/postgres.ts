import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL every test uses: database `test` on loopback, trust auth. Each test works in a
 * schema of its own, so test files can run in parallel against the same database.
 */
export const TEST_DATABASE_URL =
  process.env.SCANGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  connectionString: string;
  /** A fresh name (`t_<random>`); the store under test creates it in init(). */
  schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

export function testSchema(): TestSchema {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  return {
    connectionString: TEST_DATABASE_URL,
    schema,
    drop: async () => {
      await runSql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}

/** Runs one statement on its own connection (setup and cleanup outside the store under test). */
export async function runSql(sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

export interface OwnDatabase {
  /** postgres://…/<name> on the test server. */
  url: string;
  create(): Promise<void>;
  /** Drops it, closing whatever connections are left. */
  drop(): Promise<void>;
}

/**
 * A database of its own, with a random name, for a whole service under test: the service's store
 * uses the public schema, which no two test files may share.
 */
export function ownDatabase(prefix: string): OwnDatabase {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  return {
    url: TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${name}`),
    create: async () => {
      await runSql(`CREATE DATABASE ${name}`);
    },
    drop: async () => {
      await runSql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

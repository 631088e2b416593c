import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { replyTo } from './store-thread.ts';

/**
 * The SQLite store's reader thread: its own connection to the file (WAL lets it read while the main
 * connection writes), so a long read — the stats' part-hour, a deep list page — blocks this thread,
 * never the event loop that answers requests. Read-only by pragma; one statement per request, each
 * in a new WAL snapshot, so it sees everything committed before it was asked for.
 */

export interface ReadRequest {
  sql: string;
  values: SQLInputValue[];
}

const { path, busyTimeoutMs } = workerData as { path: string; busyTimeoutMs: number };
const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
db.exec('PRAGMA query_only = ON');
const statements = new Map<string, StatementSync>();

parentPort!.on('message', async ({ id, sql, values }: ReadRequest & { id: number }) => {
  const reply = await replyTo(id, () => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement.all(...values);
  });
  parentPort!.postMessage(reply);
});

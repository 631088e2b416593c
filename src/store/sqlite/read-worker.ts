import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The SQLite store's reader thread: its own connection to the file (WAL lets it read while the main
 * connection writes), so a long read — the stats' part-hour, a deep list page — blocks this thread,
 * never the event loop that answers requests. Read-only by pragma; one statement per message.
 */

export interface ReadRequest {
  id: number;
  sql: string;
  values: SQLInputValue[];
}

export type ReadReply =
  | { id: number; rows: unknown[] }
  | { id: number; error: { message: string; errcode: number | undefined } };

const { path, busyTimeoutMs } = workerData as { path: string; busyTimeoutMs: number };
const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
db.exec('PRAGMA query_only = ON');
const statements = new Map<string, StatementSync>();

parentPort!.on('message', ({ id, sql, values }: ReadRequest) => {
  let reply: ReadReply;
  try {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    reply = { id, rows: statement.all(...values) };
  } catch (error) {
    const { message, errcode } = error as { message?: string; errcode?: number };
    reply = { id, error: { message: message ?? String(error), errcode } };
  }
  parentPort!.postMessage(reply);
});

import { parentPort, workerData } from 'node:worker_threads';
import { SqliteDatabase } from './database.ts';
import { replyTo } from './store-thread.ts';
import { type SweepRequest, sweepExpiredRows } from './sweep.ts';
import { WriteTurn } from './write-turn.ts';

/**
 * The SQLite store's maintenance thread: the retention sweep on a connection of its own, so its
 * batches hold SQLite's write lock a millisecond or so at a time but never the event loop that
 * answers requests. Its writes take the write turn shared with the main connection (write-turn.ts):
 * a main-thread write that meets a batch waits for that batch's COMMIT, not in the busy handler.
 */

const { path, writeTurn } = workerData as { path: string; writeTurn: SharedArrayBuffer };
const db = new SqliteDatabase(path, {
  storeThreads: false,
  writeTurn: new WriteTurn(writeTurn, 'background'),
});
db.open();

parentPort!.on('message', async ({ id, cutoff }: SweepRequest & { id: number }) => {
  parentPort!.postMessage(await replyTo(id, () => sweepExpiredRows(db, cutoff)));
});

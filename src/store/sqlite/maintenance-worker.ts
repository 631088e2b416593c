import { parentPort, workerData } from 'node:worker_threads';
import { SqliteDatabase } from './database.ts';
import { replyTo } from './store-thread.ts';
import { type SweepRequest, sweepExpiredRows } from './sweep.ts';

/**
 * The SQLite store's maintenance thread, on a connection of its own: the retention sweep, so its
 * batches hold SQLite's write lock a few milliseconds at a time but never the event loop that
 * answers requests (a submit then waits for the lock once, not at every turn of the loop); and the
 * main connection's WAL checkpoints, so their copies and fsyncs do not hold that event loop either
 * (a PASSIVE checkpoint takes no write lock: commits go on while it copies).
 */

/** What the main thread asks of this one. */
export type MaintenanceRequest = ({ kind: 'sweep' } & SweepRequest) | { kind: 'checkpoint' };

const { path } = workerData as { path: string };
const db = new SqliteDatabase(path, { storeThreads: false });
db.open();

parentPort!.on('message', async (request: MaintenanceRequest & { id: number }) => {
  parentPort!.postMessage(
    await replyTo(request.id, () =>
      request.kind === 'checkpoint' ? db.checkpoint() : sweepExpiredRows(db, request.cutoff),
    ),
  );
});

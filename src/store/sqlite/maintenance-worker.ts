import { parentPort, workerData } from 'node:worker_threads';
import { SqliteDatabase } from './database.ts';
import { CheckpointLedger, type MaintenanceRequest } from './maintenance-requests.ts';
import { replyTo } from './store-thread.ts';
import { sweepExpiredRows } from './sweep.ts';
import { WriteTurn } from './write-turn.ts';

/**
 * The SQLite store's maintenance thread, on a connection of its own: the retention sweep, so its
 * batches hold SQLite's write lock a millisecond or so at a time but never the event loop that
 * answers requests, and take the write turn shared with the main connection (write-turn.ts), so a
 * main-thread write that meets a batch waits for its COMMIT, not in SQLite's busy handler; and the
 * main connection's WAL checkpoints, so their copies and fsyncs do not hold that event loop either
 * (a PASSIVE checkpoint takes no write lock: commits go on while it copies).
 */

const { path, writeTurn, checkpoints } = workerData as {
  path: string;
  writeTurn: SharedArrayBuffer;
  checkpoints: SharedArrayBuffer;
};
const ledger = new CheckpointLedger(checkpoints);
const db = new SqliteDatabase(path, {
  storeThreads: false,
  writeTurn: new WriteTurn(writeTurn, 'background'),
});
db.open();

parentPort!.on('message', async (request: MaintenanceRequest & { id: number }) => {
  parentPort!.postMessage(
    await replyTo(request.id, () =>
      request.kind === 'checkpoint' ? checkpointForMain() : sweepExpiredRows(db, request.cutoff),
    ),
  );
});

/** The main connection's checkpoint, marked done in the shared ledger whether it copied or failed. */
function checkpointForMain(): { checkpointed: number } {
  let frames: number | undefined;
  try {
    const { checkpointed } = db.checkpoint();
    frames = checkpointed;
    return { checkpointed };
  } finally {
    ledger.finished(frames);
  }
}

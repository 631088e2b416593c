import type { SweepRequest } from './sweep.ts';

/**
 * What the main thread asks of the maintenance thread (maintenance-worker.ts). Named apart from
 * both: the worker's script opens a SqliteDatabase, and SqliteDatabase sends these requests.
 */
export type MaintenanceRequest = ({ kind: 'sweep' } & SweepRequest) | { kind: 'checkpoint' };

/** Slots of the ledger's shared Int32Array. */
const IN_FLIGHT = 0; // 1 from a request until the thread has run it (or it failed)
const CHECKPOINTS = 1; // checkpoints the thread has run for the main connection
const FRAMES = 2; // WAL frames they copied
const SLOTS = 3;

/**
 * The main connection's checkpoint requests, in memory both threads share. The thread marks a
 * checkpoint done here, not only in its reply: a reply is a message, taken when the main thread's
 * event loop turns, and a main thread that commits on microtasks alone (awaiting store calls that
 * settle at once, as a tight loop of claims does) would otherwise ask once and never again, leaving
 * every checkpoint to its own backstop (~4,000 frames copied on the event loop, ~20 ms; measured in
 * the growth bench's claim loop: docs/SCALING.md, "what the bench's claim loop measured").
 */
export class CheckpointLedger {
  readonly #slots: Int32Array;

  /** The shared memory for one SQLite file's ledger: create once, give to both sides. */
  static share(): SharedArrayBuffer {
    return new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT);
  }

  constructor(shared: SharedArrayBuffer) {
    this.#slots = new Int32Array(shared);
  }

  /** The main thread's side: true when no checkpoint is in flight, which marks one. */
  tryStart(): boolean {
    return Atomics.compareExchange(this.#slots, IN_FLIGHT, 0, 1) === 0;
  }

  /** The thread's side, after a checkpoint that copied `frames` (or failed: undefined). */
  finished(frames: number | undefined): void {
    if (frames !== undefined) {
      Atomics.add(this.#slots, CHECKPOINTS, 1);
      Atomics.add(this.#slots, FRAMES, Math.max(0, frames));
    }
    Atomics.store(this.#slots, IN_FLIGHT, 0);
  }

  /** The main thread's side, when the thread ended before it ran the request: the next commit may ask again. */
  abandon(): void {
    Atomics.store(this.#slots, IN_FLIGHT, 0);
  }

  get counts(): { checkpoints: number; frames: number } {
    return { checkpoints: Atomics.load(this.#slots, CHECKPOINTS), frames: Atomics.load(this.#slots, FRAMES) };
  }
}

/**
 * Who may write to the SQLite file next, between the main thread's connection and the maintenance
 * thread's (the retention sweep), kept in shared memory both threads see.
 *
 * Why: when two connections of one process want SQLite's write lock at once, the one that loses
 * waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 ms… between tries whatever the other
 * holds it for. On the main thread that sleep blocks the event loop: a sweep batch holding the lock
 * for one millisecond cost a submit that met it 3 ms or more. With the turn, a writer that finds the
 * other one writing blocks on Atomics.wait and wakes within microseconds of Atomics.notify, right
 * after the other's COMMIT, before it asks SQLite for the lock. The main thread has priority: the
 * maintenance thread does not take the turn while the main thread waits for it.
 *
 * The turn is advice, not the lock: correctness stays with SQLite's own locking. A writer that has
 * waited WAIT_LIMIT_MS writes anyway and meets the busy handler as before (a thread that died while
 * holding the turn, or a batch slowed far beyond its usual millisecond), and writers of other
 * processes never see the turn at all.
 */

const FREE = 0;
const MAIN = 1;
const BACKGROUND = 2;

/** Slots of the shared Int32Array. */
const HOLDER = 0; // FREE, MAIN or BACKGROUND
const MAIN_WAITING = 1; // 1 while the main thread waits for the turn
const MAIN_WAITS = 2; // times the main thread found the turn taken and waited (a count for tests and benches)
const MAIN_WAITS_GIVEN_UP = 3; // of those, waits that reached WAIT_LIMIT_MS and went on to SQLite's busy handler
const BACKGROUND_TURNS = 4; // turns the maintenance thread took
const MAIN_TURNS = 5; // turns the main thread took: the sweep reads it to tell whether requests are writing
const SLOTS = 6;

/**
 * Longest wait for the turn before writing anyway: far above a sweep batch (about a millisecond, tens
 * under load) or a main-thread transaction, and short enough that a turn left by a thread that died
 * costs little before its exit frees it (SqliteDatabase does on the thread's exit).
 */
const WAIT_LIMIT_MS = 250;

/** How often the maintenance thread looks again while the main thread is about to take the turn. */
const YIELD_POLL_MS = 1;

export type WriteTurnSide = 'main' | 'background';

export interface WriteTurnCounts {
  mainTurns: number;
  mainWaits: number;
  mainWaitsGivenUp: number;
  backgroundTurns: number;
}

export class WriteTurn {
  readonly #slots: Int32Array;
  readonly #side: typeof MAIN | typeof BACKGROUND;
  /** Nested holds on this side (a run() inside immediate()) take the turn once. */
  #depth = 0;

  /** The shared memory for one SQLite file's turn: create once, give to both sides. */
  static share(): SharedArrayBuffer {
    return new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT);
  }

  constructor(shared: SharedArrayBuffer, side: WriteTurnSide) {
    this.#slots = new Int32Array(shared);
    this.#side = side === 'main' ? MAIN : BACKGROUND;
  }

  /** Runs a write (a statement, or a transaction from BEGIN to COMMIT) holding the turn. */
  hold<T>(write: () => T): T {
    if (this.#depth > 0) return this.#nested(write);
    const taken = this.#side === MAIN ? this.#takeAsMain() : this.#takeAsBackground();
    this.#depth = 1;
    try {
      return write();
    } finally {
      this.#depth = 0;
      if (taken) this.#give();
    }
  }

  get counts(): WriteTurnCounts {
    return {
      mainTurns: Atomics.load(this.#slots, MAIN_TURNS),
      mainWaits: Atomics.load(this.#slots, MAIN_WAITS),
      mainWaitsGivenUp: Atomics.load(this.#slots, MAIN_WAITS_GIVEN_UP),
      backgroundTurns: Atomics.load(this.#slots, BACKGROUND_TURNS),
    };
  }

  /** Who holds the turn now. */
  get holder(): WriteTurnSide | undefined {
    const holder = Atomics.load(this.#slots, HOLDER);
    return holder === MAIN ? 'main' : holder === BACKGROUND ? 'background' : undefined;
  }

  /** Frees a turn the maintenance thread held when it ended (call once that thread is gone). */
  freeAbandoned(): void {
    if (Atomics.compareExchange(this.#slots, HOLDER, BACKGROUND, FREE) === BACKGROUND) {
      Atomics.notify(this.#slots, HOLDER);
    }
  }

  #nested<T>(write: () => T): T {
    this.#depth++;
    try {
      return write();
    } finally {
      this.#depth--;
    }
  }

  #takeAsMain(): boolean {
    Atomics.add(this.#slots, MAIN_TURNS, 1);
    if (Atomics.compareExchange(this.#slots, HOLDER, FREE, MAIN) === FREE) return true;
    Atomics.add(this.#slots, MAIN_WAITS, 1);
    Atomics.store(this.#slots, MAIN_WAITING, 1);
    try {
      const deadline = performance.now() + WAIT_LIMIT_MS;
      for (;;) {
        const holder = Atomics.compareExchange(this.#slots, HOLDER, FREE, MAIN);
        if (holder === FREE) return true;
        const left = deadline - performance.now();
        if (left <= 0) {
          Atomics.add(this.#slots, MAIN_WAITS_GIVEN_UP, 1);
          return false;
        }
        Atomics.wait(this.#slots, HOLDER, holder, left);
      }
    } finally {
      Atomics.store(this.#slots, MAIN_WAITING, 0);
    }
  }

  /**
   * Blocks the maintenance thread (it has nothing else to do) until the turn is free and the main
   * thread does not want it. It gives up only when one holder keeps the turn past the limit: a main
   * thread writing often hands the turn back between writes, and is let go first every time.
   */
  #takeAsBackground(): boolean {
    let deadline = performance.now() + WAIT_LIMIT_MS;
    let lastHolder = -1;
    for (;;) {
      const mainWaiting = Atomics.load(this.#slots, MAIN_WAITING) === 1;
      const holder = mainWaiting ? Atomics.load(this.#slots, HOLDER) : this.#tryTake();
      if (holder === FREE && !mainWaiting) {
        Atomics.add(this.#slots, BACKGROUND_TURNS, 1);
        return true;
      }
      if (holder !== lastHolder) deadline = performance.now() + WAIT_LIMIT_MS;
      lastHolder = holder;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      // The main thread waiting with the turn free is about to take it; the holder's release wakes us.
      Atomics.wait(this.#slots, HOLDER, holder, holder === FREE ? Math.min(left, YIELD_POLL_MS) : left);
    }
  }

  /** FREE when this thread took the turn, else who holds it. */
  #tryTake(): number {
    return Atomics.compareExchange(this.#slots, HOLDER, FREE, BACKGROUND);
  }

  #give(): void {
    Atomics.store(this.#slots, HOLDER, FREE);
    Atomics.notify(this.#slots, HOLDER);
  }
}

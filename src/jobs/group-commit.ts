/**
 * Commits what arrives together in one transaction. The first item waits one turn of the event
 * loop (no timer: nothing is added when idle but that turn), so the requests whose bodies ended in
 * the same turn join it; items that arrive while a flush is in flight go together in the next.
 * The turn matters for SQLite, whose commit is synchronous: without it no flush is ever in flight
 * when the next item arrives. Each caller's promise settles only after its own item's transaction
 * committed (or failed), so an answer sent on it keeps the promise of a single commit.
 */
export class GroupCommit<Item, Outcome> {
  readonly #flush: (items: Item[]) => Promise<Outcome[]>;
  readonly #maxBatch: number;
  #waiting: { item: Item; resolve(outcome: Outcome): void; reject(error: unknown): void }[] = [];
  #flushing = false;

  /** `flush` answers one outcome per item, in order. */
  constructor(flush: (items: Item[]) => Promise<Outcome[]>, maxBatch = 64) {
    this.#flush = flush;
    this.#maxBatch = maxBatch;
  }

  add(item: Item): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (!this.#flushing) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#flushing = true;
    await new Promise((resolve) => setImmediate(resolve));
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.#maxBatch);
      try {
        const outcomes = await this.#flush(batch.map((entry) => entry.item));
        for (const [index, entry] of batch.entries()) entry.resolve(outcomes[index]!);
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.#flushing = false;
  }
}

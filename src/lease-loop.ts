/**
 * The loop both queues run (scan jobs and callback deliveries): `concurrency` slots, each leasing
 * one item, handling it, and leasing again; a slot that finds nothing sleeps for the poll interval
 * or until woken. The wake rule is one deliberate choice: wake() wakes ONE idle slot, because each
 * call announces one new item (a submitted job, a stored callback); stop() wakes them all.
 */
export interface LeaseLoopOptions<T> {
  concurrency: number;
  pollIntervalMs: number;
  /** How long a slot waits before leasing again after lease() failed (database down). */
  leaseErrorDelayMs: number;
  lease(): Promise<T | undefined>;
  handle(item: T): Promise<void>;
  onLeaseError(error: unknown): void;
}

export class LeaseLoop<T> {
  readonly #options: LeaseLoopOptions<T>;
  readonly #idleSlots = new Set<() => void>();
  #slots: Promise<void>[] = [];
  #stopping = false;

  constructor(options: LeaseLoopOptions<T>) {
    this.#options = options;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  start(): void {
    if (this.#slots.length > 0) return;
    this.#stopping = false;
    for (let slot = 0; slot < this.#options.concurrency; slot++) this.#slots.push(this.#run());
  }

  /** One item became due: one idle slot leases now instead of at its next poll. */
  wake(): void {
    const [first] = this.#idleSlots;
    first?.();
  }

  /**
   * Stops leasing and waits for the items in hand. After `graceMs` it calls `abortInFlight` (the
   * owner aborts what is still running and gives those leases back) and waits for the slots to end.
   */
  async stop(graceMs: number, abortInFlight: () => void): Promise<void> {
    this.#stopping = true;
    for (const wake of [...this.#idleSlots]) wake();
    const slots = Promise.all(this.#slots);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace_over'>((resolve) => {
      timer = setTimeout(() => resolve('grace_over'), graceMs);
    });
    if ((await Promise.race([slots, graceOver])) === 'grace_over') {
      abortInFlight();
      await slots;
    }
    clearTimeout(timer);
    this.#slots = [];
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      let item: T | undefined;
      try {
        item = await this.#options.lease();
      } catch (error) {
        this.#options.onLeaseError(error);
        await this.#idle(this.#options.leaseErrorDelayMs);
        continue;
      }
      if (item !== undefined) await this.#options.handle(item);
      else await this.#idle(this.#options.pollIntervalMs);
    }
  }

  #idle(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#idleSlots.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#idleSlots.add(done);
    });
  }
}

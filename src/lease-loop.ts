/**
 * The loop both queues run (scan jobs and callback deliveries): up to `concurrency` items in hand
 * at once. The loop leases while it has free slots and the queue may hold work, in one call for
 * all free slots, until a lease comes back short; then it sleeps until woken (a submit in this
 * process, a NOTIFY from another, an item in hand finishing) or until the fallback poll, which
 * covers a lost notification and work that falls due by the clock (a retry's time, an expired
 * lease). An idle loop therefore costs one lease query per `pollIntervalMs`, whatever its size.
 *
 * After a lease that came back short (the queue ran dry) the next one asks for a single item, and
 * for every free slot again once a lease is answered in full: a wake-up for one new job (every
 * worker process is woken by each NOTIFY) costs one pick, not a batch transaction that looks for
 * the job and then, in vain, for one more per free slot.
 */
export interface LeaseLoopOptions<T> {
  concurrency: number;
  /** The fallback poll of an idle loop. */
  pollIntervalMs: number;
  /** How long the loop waits before leasing again after lease() failed (database down). */
  leaseErrorDelayMs: number;
  /** Leases up to `max` items (at least one asked for); an empty answer means nothing is due. */
  lease(max: number): Promise<T[]>;
  handle(item: T): Promise<void>;
  onLeaseError(error: unknown): void;
}

export class LeaseLoop<T> {
  readonly #options: LeaseLoopOptions<T>;
  readonly #inHand = new Set<Promise<void>>();
  #started = false;
  #stopping = false;
  /** The lease call in flight with what it leads to, if any. */
  #leasing: Promise<void> | undefined;
  /** A wake-up arrived while a lease was in flight: that lease may have missed the new item. */
  #wokenWhileLeasing = false;
  /** The last lease was answered with all it asked for: the queue may hold more (at start, it may). */
  #lastLeaseFull = true;
  #sleep: NodeJS.Timeout | undefined;

  constructor(options: LeaseLoopOptions<T>) {
    this.#options = options;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#stopping = false;
    this.#fill();
  }

  /** Work may have become due: lease now instead of at the next fallback poll. */
  wake(): void {
    if (!this.#started || this.#stopping) return;
    this.#fill();
  }

  /** Wakes the loop at `at` (a retry this process scheduled), unless it is woken earlier anyway. */
  wakeAt(at: Date): void {
    const delay = at.getTime() - Date.now();
    setTimeout(() => this.wake(), Math.max(0, delay)).unref();
  }

  /**
   * Stops leasing and waits for the items in hand. After `graceMs` it calls `abortInFlight` (the
   * owner aborts what is still running and gives those leases back) and waits for them to end.
   */
  async stop(graceMs: number, abortInFlight: () => void): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#sleep);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace_over'>((resolve) => {
      timer = setTimeout(() => resolve('grace_over'), graceMs);
    });
    const settled = async () => {
      // A lease in flight may still add items; wait until nothing is leasing or in hand.
      while (this.#leasing || this.#inHand.size > 0) await Promise.all([this.#leasing, ...this.#inHand]);
    };
    const allSettled = settled();
    if ((await Promise.race([allSettled, graceOver])) === 'grace_over') {
      abortInFlight();
      await allSettled;
    }
    clearTimeout(timer);
    this.#started = false;
  }

  /**
   * Runs `work`, which stores what `finishing` items in hand leave behind and may lease, in the same
   * transaction, up to the `max` it is given: the free slots and those the finishing items give up.
   * The items it leases are taken at once, so when the finishing items end there is nothing left to
   * lease (while a finished item still returns from handle(), one more item may be in hand than
   * `concurrency`: its slot already belongs to the next). With a lease in flight or while stopping
   * `work` is given 0 and the loop leases as it always does.
   */
  async leaseAlong<R>(
    finishing: number,
    work: (max: number) => Promise<{ result: R; leased: T[] }>,
  ): Promise<R> {
    if (!this.#started || this.#stopping || this.#leasing !== undefined) return (await work(0)).result;
    const asked = Math.max(0, this.#options.concurrency - this.#inHand.size + finishing);
    if (asked === 0) return (await work(0)).result;
    clearTimeout(this.#sleep);
    this.#sleep = undefined;
    this.#wokenWhileLeasing = false;
    const leasing = work(asked);
    this.#leasing = leasing.then(
      ({ leased }) => {
        this.#lastLeaseFull = leased.length >= asked;
        for (const item of leased) this.#take(item);
      },
      () => {},
    );
    void this.#leasing.finally(() => {
      this.#leasing = undefined;
      if (this.#wokenWhileLeasing && !this.#stopping) this.#fill();
    });
    return (await leasing).result;
  }

  #fill(): void {
    if (this.#leasing !== undefined) {
      this.#wokenWhileLeasing = true;
      return;
    }
    clearTimeout(this.#sleep);
    this.#sleep = undefined;
    this.#wokenWhileLeasing = false;
    this.#leasing = this.#leaseWhileFree().finally(() => {
      this.#leasing = undefined;
      if (this.#wokenWhileLeasing && !this.#stopping) this.#fill();
    });
  }

  async #leaseWhileFree(): Promise<void> {
    let free = this.#options.concurrency - this.#inHand.size;
    while (!this.#stopping && free > 0) {
      this.#wokenWhileLeasing = false;
      let items: T[];
      const asked = this.#lastLeaseFull ? free : 1;
      try {
        items = await this.#options.lease(asked);
        this.#lastLeaseFull = items.length >= asked;
      } catch (error) {
        this.#options.onLeaseError(error);
        this.#wokenWhileLeasing = false;
        this.#sleepFor(this.#options.leaseErrorDelayMs);
        return;
      }
      for (const item of items) this.#take(item);
      free = this.#options.concurrency - this.#inHand.size;
      // Short: the queue held no more when it was read. Only a wake-up since then is news.
      if (items.length < asked && !this.#wokenWhileLeasing) break;
    }
    // Full: the next item to finish leases again. Empty: sleep until woken or the fallback poll.
    if (!this.#stopping && free > 0) this.#sleepFor(this.#options.pollIntervalMs);
  }

  #take(item: T): void {
    // handle() records its own failures (both owners catch everything); the guard keeps one
    // unexpected rejection from ending the loop.
    const handled: Promise<void> = this.#options
      .handle(item)
      .catch((error: unknown) => this.#options.onLeaseError(error))
      .finally(() => {
        this.#inHand.delete(handled);
        if (!this.#stopping) this.#fill();
      });
    this.#inHand.add(handled);
  }

  #sleepFor(ms: number): void {
    clearTimeout(this.#sleep);
    this.#sleep = setTimeout(() => {
      this.#sleep = undefined;
      if (!this.#stopping) this.#fill();
    }, ms);
  }
}

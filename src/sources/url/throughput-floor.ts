/**
 * The slowest a download may be: at least `minBytesPerSecond` on average over every `windowMs`
 * once the body has flowed for that long. The idle timeout only catches silence; a server sending
 * one byte a second is never silent, and would hold a worker for the whole download deadline.
 * Pure: the caller feeds byte counts and the clock.
 */
export class ThroughputFloor {
  readonly #minBytesPerSecond: number;
  readonly #windowMs: number;
  readonly #startedAt: number;
  /** (time, bytes received by then), oldest first; one sample at or before the window's start is kept. */
  readonly #samples: { at: number; total: number }[];
  #total = 0;

  constructor(minBytesPerSecond: number, windowMs: number, startedAt: number) {
    this.#minBytesPerSecond = minBytesPerSecond;
    this.#windowMs = windowMs;
    this.#startedAt = startedAt;
    this.#samples = [{ at: startedAt, total: 0 }];
  }

  record(bytes: number, now: number): void {
    this.#total += bytes;
    const last = this.#samples[this.#samples.length - 1]!;
    // One sample per 1/16 of the window keeps the list short whatever the chunk rate.
    if (now - last.at >= this.#windowMs / 16) this.#samples.push({ at: now, total: this.#total });
    else last.total = this.#total;
  }

  /** The average rate over the last window (bytes/s) when it is below the floor, else undefined. */
  tooSlow(now: number): number | undefined {
    if (this.#minBytesPerSecond <= 0 || now - this.#startedAt < this.#windowMs) return undefined;
    const windowStart = now - this.#windowMs;
    while (this.#samples.length > 1 && this.#samples[1]!.at <= windowStart) this.#samples.shift();
    const base = this.#samples[0]!;
    const rate = ((this.#total - base.total) * 1000) / Math.max(now - base.at, 1);
    return rate < this.#minBytesPerSecond ? rate : undefined;
  }
}

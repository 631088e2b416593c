import { Worker } from 'node:worker_threads';
import { messageOf, ScanGateError } from '../../errors.ts';

/** What a store thread answers to request `id`: its result, or the error with SQLite's errcode. */
export type ThreadReply =
  | { id: number; result: unknown }
  | { id: number; error: { message: string; errcode: number | undefined } };

/**
 * How long a store thread lives without a request: shorter than the default sweep interval (60 s),
 * so the maintenance thread is gone between sweeps, and long enough that a burst of list pages or
 * stats reuses one reader.
 */
const STORE_THREAD_IDLE_MS = 10_000;

interface Pending {
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * The main thread's side of a store thread (read-worker.ts, maintenance-worker.ts): a worker with
 * its own connection to the file, started by the first request, answering requests in order, and
 * ended once it has had no request for `idleMs`. Each worker is a V8 isolate of its own (~13 MiB),
 * so an idle service holds none. Starting one holds the calling thread's event loop under 5 ms
 * (measured); the ~30–90 ms until the worker answers delay only the request that started it.
 * A failed request rejects with an error carrying SQLite's errcode, for the caller's error mapping.
 */
export class SqliteStoreThread {
  readonly #script: URL;
  readonly #workerData: unknown;
  readonly #idleMs: number;
  readonly #onGone: (() => void) | undefined;
  #worker: Worker | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  /**
   * `onGone` runs once a worker that may have been mid-request has ended (it failed or exited, or
   * close() ended it); not after one ended for idleness, which holds nothing.
   */
  constructor(script: URL, workerData: unknown, options: { idleMs?: number; onGone?: () => void } = {}) {
    this.#script = script;
    this.#workerData = workerData;
    this.#idleMs = options.idleMs ?? STORE_THREAD_IDLE_MS;
    this.#onGone = options.onGone;
  }

  /** Whether a worker is running now (it ends after `idleMs` without requests). */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  request<T>(payload: object): Promise<T> {
    const worker = this.#started();
    clearTimeout(this.#idleTimer);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
      // Referenced only while a request is outstanding: an idle thread never keeps the process alive.
      if (this.#pending.size === 1) worker.ref();
      worker.postMessage({ ...payload, id });
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.#idleTimer);
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failPending(new ScanGateError('store_unavailable', 'the SQLite job store is closed'));
    if (!worker) return;
    await worker.terminate();
    this.#onGone?.();
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(this.#script, { workerData: this.#workerData });
    worker.unref();
    worker.on('message', (reply: ThreadReply) => this.#settle(reply));
    // Only the current worker's failure fails the pending requests: a worker ended for idleness
    // exits after a new one may already hold requests.
    worker.on('error', (error) => {
      if (this.#worker !== worker) return;
      this.#failPending(
        new ScanGateError('store_unavailable', `a SQLite store thread failed: ${messageOf(error)}`, {
          retryable: true,
          cause: error,
        }),
      );
    });
    worker.on('exit', () => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      clearTimeout(this.#idleTimer);
      this.#onGone?.();
      this.#failPending(
        new ScanGateError('store_unavailable', 'a SQLite store thread exited', { retryable: true }),
      );
    });
    this.#worker = worker;
    return worker;
  }

  /** Ends the worker when `idleMs` pass without a request; the next request starts a new one. */
  #endWhenIdle(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      const worker = this.#worker;
      if (!worker || this.#pending.size > 0) return;
      this.#worker = undefined;
      void worker.terminate();
    }, this.#idleMs);
    this.#idleTimer.unref();
  }

  #settle(reply: ThreadReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) {
      this.#worker?.unref();
      this.#endWhenIdle();
    }
    if ('result' in reply) pending.resolve(reply.result);
    else pending.reject(Object.assign(new Error(reply.error.message), { errcode: reply.error.errcode }));
  }

  #failPending(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/** A worker's reply to one request: the result of `work`, or its error with SQLite's errcode. */
export async function replyTo(id: number, work: () => unknown): Promise<ThreadReply> {
  try {
    return { id, result: await work() };
  } catch (error) {
    const { message, errcode } = error as { message?: string; errcode?: number };
    return { id, error: { message: message ?? String(error), errcode } };
  }
}

import { Worker } from 'node:worker_threads';
import { messageOf, ScanGateError } from '../../errors.ts';

/** What a store thread answers to request `id`: its result, or the error with SQLite's errcode. */
export type ThreadReply =
  | { id: number; result: unknown }
  | { id: number; error: { message: string; errcode: number | undefined } };

interface Pending {
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * The main thread's side of a store thread (read-worker.ts, maintenance-worker.ts): a worker with
 * its own connection to the file, started on the first request, answering requests in order. A
 * failed request rejects with an error carrying SQLite's errcode, for the caller's error mapping.
 */
export class SqliteStoreThread {
  readonly #script: URL;
  readonly #workerData: unknown;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  constructor(script: URL, workerData: unknown) {
    this.#script = script;
    this.#workerData = workerData;
  }

  request<T>(payload: object): Promise<T> {
    const worker = this.#started();
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
      // Referenced only while a request is outstanding: an idle thread never keeps the process alive.
      if (this.#pending.size === 1) worker.ref();
      worker.postMessage({ ...payload, id });
    });
  }

  /**
   * Starts the worker now rather than at the first request: a worker's start holds the event loop
   * of the thread that starts it for tens to hundreds of milliseconds (measured 290 ms under load),
   * which belongs at startup, not inside a request.
   */
  start(): void {
    this.#started();
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failPending(new ScanGateError('store_unavailable', 'the SQLite job store is closed'));
    await worker?.terminate();
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(this.#script, { workerData: this.#workerData });
    worker.unref();
    worker.on('message', (reply: ThreadReply) => this.#settle(reply));
    worker.on('error', (error) => {
      this.#failPending(
        new ScanGateError('store_unavailable', `a SQLite store thread failed: ${messageOf(error)}`, {
          retryable: true,
          cause: error,
        }),
      );
    });
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = undefined;
      this.#failPending(
        new ScanGateError('store_unavailable', 'a SQLite store thread exited', { retryable: true }),
      );
    });
    this.#worker = worker;
    return worker;
  }

  #settle(reply: ThreadReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker?.unref();
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

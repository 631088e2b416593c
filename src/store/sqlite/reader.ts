import type { SQLInputValue } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { messageOf, ScanGateError } from '../../errors.ts';
import type { ReadReply, ReadRequest } from './read-worker.ts';

interface PendingRead {
  resolve: (rows: unknown[]) => void;
  reject: (error: unknown) => void;
}

/**
 * The main thread's side of the reader thread (read-worker.ts): started on the first read, one
 * statement at a time in order. Its rows see every transaction the main connection committed
 * before the read was asked for (a new WAL snapshot per statement). A failed statement rejects
 * with an error carrying SQLite's errcode, for the caller's usual error mapping.
 */
export class SqliteReader {
  readonly #path: string;
  readonly #busyTimeoutMs: number;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, PendingRead>();
  #nextId = 0;

  constructor(path: string, busyTimeoutMs: number) {
    this.#path = path;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  all<T>(sql: string, values: SQLInputValue[]): Promise<T[]> {
    const worker = this.#started();
    const id = this.#nextId++;
    const request: ReadRequest = { id, sql, values };
    return new Promise<T[]>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (rows: unknown[]) => void, reject });
      // Referenced only while a read is outstanding: an idle reader never keeps the process alive.
      if (this.#pending.size === 1) worker.ref();
      worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failPending(new ScanGateError('store_unavailable', 'the SQLite job store is closed'));
    await worker?.terminate();
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./read-worker.ts', import.meta.url), {
      workerData: { path: this.#path, busyTimeoutMs: this.#busyTimeoutMs },
    });
    worker.unref();
    worker.on('message', (reply: ReadReply) => this.#settle(reply));
    worker.on('error', (error) => {
      this.#failPending(
        new ScanGateError('store_unavailable', `the SQLite reader thread failed: ${messageOf(error)}`, {
          retryable: true,
          cause: error,
        }),
      );
    });
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = undefined;
      this.#failPending(
        new ScanGateError('store_unavailable', 'the SQLite reader thread exited', { retryable: true }),
      );
    });
    this.#worker = worker;
    return worker;
  }

  #settle(reply: ReadReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker?.unref();
    if ('rows' in reply) pending.resolve(reply.rows);
    else pending.reject(Object.assign(new Error(reply.error.message), { errcode: reply.error.errcode }));
  }

  #failPending(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

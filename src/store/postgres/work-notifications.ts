import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import type { WorkQueue } from '../contracts.ts';

const WORK_QUEUES: readonly WorkQueue[] = ['jobs', 'deliveries', 'buckets'];

/** The channel a store's `queue` is announced on: per schema, as the store is. */
export function workChannel(schema: string, queue: WorkQueue): string {
  // Channel names are identifiers (at most 63 bytes).
  const suffix = createHash('sha256').update(schema).digest('hex').slice(0, 16);
  return `scangate_${queue}_${suffix}`;
}

/** How long a lost LISTEN connection waits before it dials again (the fallback poll covers the gap). */
const RECONNECT_DELAY_MS = 1_000;

/**
 * LISTEN/NOTIFY for one store's schema: writers announce new work with pg_notify in the committing
 * statement (delivered only if it commits), and each process keeps one LISTEN connection, opened
 * when the first watcher subscribes and dialled again when it drops. Every notification carries the
 * announcing store's origin so a process ignores its own: it wakes its workers in-process already.
 */
export class PostgresWorkNotifications {
  /** This store's mark on its own notifications. */
  readonly origin = randomUUID();
  readonly #connectionString: string;
  readonly #channels: Record<WorkQueue, string>;
  readonly #queues: Map<string, WorkQueue>;
  readonly #watchers: Record<WorkQueue, Set<() => void>> = {
    jobs: new Set(),
    deliveries: new Set(),
    buckets: new Set(),
  };
  #client: pg.Client | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(connectionString: string, schema: string) {
    this.#connectionString = connectionString;
    this.#channels = {
      jobs: workChannel(schema, 'jobs'),
      deliveries: workChannel(schema, 'deliveries'),
      buckets: workChannel(schema, 'buckets'),
    };
    this.#queues = new Map(WORK_QUEUES.map((queue) => [this.#channels[queue], queue]));
  }

  channel(queue: WorkQueue): string {
    return this.#channels[queue];
  }

  watch(queue: WorkQueue, wake: () => void): () => void {
    this.#watchers[queue].add(wake);
    if (!this.#client && !this.#reconnect) void this.#connect();
    return () => this.#watchers[queue].delete(wake);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnect);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#connectionString,
      application_name: 'scangate-listen',
    });
    this.#client = client;
    client.on('notification', ({ channel, payload }) => {
      if (payload === this.origin) return;
      const queue = this.#queues.get(channel);
      if (queue) this.#wakeAll(queue);
    });
    // A dropped connection is reported by 'error' and/or 'end'; either way it is dialled again.
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    try {
      await client.connect();
      await client.query(WORK_QUEUES.map((queue) => `LISTEN ${this.#channels[queue]};`).join(' '));
    } catch {
      this.#lost(client);
      return;
    }
    // Whatever was announced while no connection listened is looked for now.
    for (const queue of WORK_QUEUES) this.#wakeAll(queue);
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    void client.end().catch(() => {});
    if (this.#closed) return;
    this.#reconnect = setTimeout(() => {
      this.#reconnect = undefined;
      if (!this.#closed) void this.#connect();
    }, RECONNECT_DELAY_MS);
    this.#reconnect.unref();
  }

  #wakeAll(queue: WorkQueue): void {
    for (const wake of this.#watchers[queue]) wake();
  }
}

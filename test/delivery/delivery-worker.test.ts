import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { type Config, defaultConfig } from '../../src/config.ts';
import { CallbackDeliveryWorker } from '../../src/delivery/delivery-worker.ts';
import { callbackDeliveryFor } from '../../src/dialects/callback.ts';
import type { CallbackDelivery } from '../../src/scan.ts';
import type { Store } from '../../src/store/contracts.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { readBody, startHttpServer, type TestHttpServer } from '../support/http-servers.ts';

const TENANT = 'tenant-a';

type WorkerConfig = Pick<Config, 'callbacks' | 'network' | 'jobs'>;

function workerConfig(callbacks: Partial<Config['callbacks']> = {}): WorkerConfig {
  const base = defaultConfig('/nonexistent');
  return {
    callbacks: {
      ...base.callbacks,
      timeoutMs: 2_000,
      retryBaseDelayMs: 10,
      retryMaxDelayMs: 40,
      ...callbacks,
    },
    network: { ...base.network, allowCidrs: ['127.0.0.1/32'], connectTimeoutMs: 1_000 },
    jobs: { ...base.jobs, pollIntervalMs: 10, shutdownGraceMs: 2_000 },
  };
}

/** The store, with an event per recorded outbox outcome: tests wait for these instead of sleeping. */
function observed(store: Store): { store: Store; events: EventEmitter } {
  const events = new EventEmitter();
  const recorders = new Set(['markDelivered', 'retry', 'fail', 'release']);
  const outbox = new Proxy(store.outbox, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || !recorders.has(String(property))) {
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async (...args: unknown[]) => {
        const result = await value.apply(target, args);
        events.emit(`outbox.${String(property)}`, args, result);
        return result;
      };
    },
  });
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'outbox') return outbox;
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, events };
}

async function openStore(file: string): Promise<SqliteStore> {
  const store = new SqliteStore(file);
  await store.init();
  return store;
}

/** A finished job whose callback sits in the outbox, as the scan worker leaves it. */
async function finishedJobWithCallback(store: Store, callbackUrl: string): Promise<string> {
  const job = await store.jobs.submit({
    id: randomUUID(),
    tenantId: TENANT,
    traceId: `trace-${randomUUID()}`,
    dialect: 'bucketav',
    source: { kind: 'url', url: 'https://files.example/a.pdf' },
    callback: { url: callbackUrl, headers: { Authorization: 'Bearer receiver-token' } },
  });
  const leased = await store.jobs.lease(60_000);
  assert.equal(leased?.job.id, job.id);
  const result = { status: 'clean' as const, size: 3, downloadTimeMs: 10, scanTimeMs: 2 };
  assert.ok(await store.jobs.complete(job.id, leased.leaseToken, result, callbackDeliveryFor(job, result)));
  return job.id;
}

async function deliveryOf(store: Store, jobId: string): Promise<CallbackDelivery> {
  const [delivery] = await store.outbox.listForJob(TENANT, jobId);
  assert.ok(delivery);
  return delivery;
}

interface Hit {
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('CallbackDeliveryWorker over the SQLite store', () => {
  let dir: string;
  let receiver: TestHttpServer;
  let hits: Hit[];
  let answer: (response: http.ServerResponse, hit: number) => void;
  const hitEvents = new EventEmitter();
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scangate-delivery-'));
    receiver = await startHttpServer(async (request, response) => {
      const hit = { headers: request.headers, body: await readBody(request) };
      hits.push(hit);
      hitEvents.emit('hit', hits.length);
      answer(response, hits.length);
    });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  after(async () => {
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(file: string, config = workerConfig()) {
    const { store, events } = observed(await openStore(file));
    const worker = new CallbackDeliveryWorker({ store, config });
    cleanups.push(async () => {
      await worker.stop(0);
      await store.close();
    });
    return { store, events, worker };
  }

  test('a receiver failing 5 times then accepting gets exactly one accepted, verifiable delivery', async () => {
    hits = [];
    answer = (response, hit) => response.writeHead(hit <= 5 ? 503 : 200).end();
    const { store, events, worker } = await start(path.join(dir, 'retry.db'));
    const jobId = await finishedJobWithCallback(store, `${receiver.origin}/hook`);
    const delivered = once(events, 'outbox.markDelivered');
    worker.start();
    await delivered;

    const delivery = await deliveryOf(store, jobId);
    assert.equal(delivery.state, 'delivered');
    assert.equal(delivery.attempts, 6);
    assert.equal(delivery.lastStatusCode, 200);
    assert.equal(hits.length, 6);
    assert.equal(new Set(hits.map((hit) => hit.headers['webhook-id'])).size, 1);
    assert.equal(new Set(hits.map((hit) => hit.body)).size, 1);
    const secret = await store.keys.webhookSecret(TENANT, () => assert.fail('the secret must exist'));
    const accepted = hits[5]!;
    const payload = new Webhook(secret).verify(accepted.body, accepted.headers as Record<string, string>);
    assert.equal((payload as { status: string }).status, 'clean');
    assert.equal(accepted.headers.authorization, 'Bearer receiver-token');
  });

  test('410 Gone stops after one attempt', async () => {
    hits = [];
    answer = (response) => response.writeHead(410).end();
    const { store, events, worker } = await start(path.join(dir, 'gone.db'));
    const jobId = await finishedJobWithCallback(store, `${receiver.origin}/hook`);
    const failed = once(events, 'outbox.fail');
    worker.start();
    await failed;
    const delivery = await deliveryOf(store, jobId);
    assert.equal(delivery.state, 'failed');
    assert.equal(delivery.lastStatusCode, 410);
    assert.equal(hits.length, 1);
  });

  test('a 3xx is retried, never followed', async () => {
    hits = [];
    const target = await startHttpServer((_request, response) => response.writeHead(200).end());
    cleanups.push(() => target.close());
    answer = (response) => response.writeHead(302, { location: `${target.origin}/moved` }).end();
    const { store, events, worker } = await start(path.join(dir, 'redirect.db'));
    const jobId = await finishedJobWithCallback(store, `${receiver.origin}/hook`);
    const retried = once(events, 'outbox.retry');
    worker.start();
    await retried;
    await worker.stop(0);
    const delivery = await deliveryOf(store, jobId);
    assert.equal(delivery.state, 'pending');
    assert.equal(delivery.lastStatusCode, 302);
    assert.equal(target.connections, 0);
  });

  test('gives up once the delivery is older than maxAgeSeconds', async () => {
    hits = [];
    answer = (response) => response.writeHead(500).end();
    const config = workerConfig({ maxAgeSeconds: 1, retryBaseDelayMs: 200, retryMaxDelayMs: 400 });
    const { store, events, worker } = await start(path.join(dir, 'old.db'), config);
    const jobId = await finishedJobWithCallback(store, `${receiver.origin}/hook`);
    const failed = once(events, 'outbox.fail');
    worker.start();
    await failed;
    const delivery = await deliveryOf(store, jobId);
    assert.equal(delivery.state, 'failed');
    assert.match(delivery.lastError ?? '', /still failing/);
    assert.ok(hits.length >= 2, `attempts: ${hits.length}`);
  });

  test('a delivery interrupted by shutdown is delivered by the next worker on the same file', async () => {
    hits = [];
    const file = path.join(dir, 'restart.db');
    // The first attempt hangs: the worker is stopped while it is in flight.
    answer = (response, hit) => {
      if (hit > 1) response.writeHead(200).end();
    };
    const first = await start(file);
    const jobId = await finishedJobWithCallback(first.store, `${receiver.origin}/hook`);
    const inFlight = once(hitEvents, 'hit');
    const released = once(first.events, 'outbox.release');
    first.worker.start();
    await inFlight;
    await first.worker.stop(0);
    await released;
    await first.store.close();

    const second = await start(file);
    const delivered = once(second.events, 'outbox.markDelivered');
    second.worker.start();
    await delivered;
    const delivery = await deliveryOf(second.store, jobId);
    assert.equal(delivery.state, 'delivered');
    assert.equal(delivery.attempts, 1, 'the interrupted attempt was given back, not counted');
    assert.equal(hits.length, 2);
    assert.equal(hits[0]!.headers['webhook-id'], hits[1]!.headers['webhook-id']);
  });
});

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { generateDataSet, loadPayloads, RoundStamp } from './data.ts';
import { KiB } from './options.ts';
import type { Bench } from './phases.ts';
import { cpuSeconds, type ScangateProcess, startScangate, waitUntilReady } from './processes.ts';
import { type AsyncScanClient, measureAsync, runRound, waitUntilNonePending } from './rounds.ts';
import { type ScaleoutResult, type ScaleoutRun, scaleoutRatio } from './scaleout-report.ts';
import { ScangateClient } from './scangate-client.ts';
import { round, roundRate, summarize } from './stats.ts';

/** The file size of the scale-out target. */
export const SCALEOUT_FILE_BYTES = 100 * KiB;
const API_PROCESSES = 2;
const WORKER_PROCESSES = 2;
/**
 * Idle before the window opens. PostgreSQL (15+) counts a backend's transactions in
 * pg_stat_database when it flushes them: at most once a second while it works, 10 s after it went
 * idle, or when it exits (the pools close connections idle for 10 s). Measured: after 12 s the
 * rounds' last transactions still arrived inside the window (3.6/s for a worker that makes 2/s), after 20 s not.
 */
const IDLE_SETTLE_SECONDS = 20;

/** Whatever the caller stops at the end, on an error and on the time limit (run.ts's Teardown). */
export interface TeardownList {
  add(name: string, run: () => Promise<void>): void;
}

/** The server the bench creates its database on: trust auth on loopback, as the tests use. */
export function adminUrl(bench: Pick<Bench, 'options'>): string {
  return bench.options.postgresUrl;
}

function databaseUrl(admin: string, database: string, options?: string): string {
  const url = new URL(admin);
  url.pathname = `/${database}`;
  if (options) url.searchParams.set('options', options);
  return url.toString();
}

async function withAdmin<T>(admin: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: admin, application_name: 'scangate-bench' });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Fails early, before a long run, when the PostgreSQL of the scale-out phase cannot be reached. */
export async function checkPostgres(admin: string): Promise<void> {
  try {
    await withAdmin(admin, (client) => client.query('SELECT 1'));
  } catch (error) {
    throw new Error(
      `the scale-out phase needs PostgreSQL at ${admin} (--postgres-url; --scaleout-files 0 skips it): ${(error as Error).message}`,
    );
  }
}

/** The slots of the single process, split over the worker processes (4 → 2 + 2). */
export function splitSlots(slots: number, processes: number): number[] {
  return Array.from(
    { length: processes },
    (_, index) => Math.floor(slots / processes) + (index < slots % processes ? 1 : 0),
  ).filter((share) => share > 0);
}

/** Spreads one round's requests over the API processes in turn, as a round-robin load balancer does. */
class RoundRobinClient implements AsyncScanClient {
  readonly #clients: ScangateClient[];
  #next = 0;

  constructor(clients: ScangateClient[]) {
    this.#clients = clients;
  }

  #pick(): ScangateClient {
    const client = this.#clients[this.#next % this.#clients.length]!;
    this.#next++;
    return client;
  }

  submitUpload(...args: Parameters<ScangateClient['submitUpload']>) {
    return this.#pick().submitUpload(...args);
  }

  getScan(id: string) {
    return this.#pick().getScan(id);
  }

  listScans(...args: Parameters<ScangateClient['listScans']>) {
    return this.#pick().listScans(...args);
  }

  async close(): Promise<void> {
    await Promise.all(this.#clients.map((client) => client.close()));
  }
}

/** The PostgreSQL backends serving the bench database and their CPU seconds so far. */
async function backendCpu(admin: pg.Client, database: string): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [
    database,
  ]);
  return new Map(rows.map((row) => [row.pid, cpuSeconds(row.pid)]));
}

function backendCpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  // A backend opened during the round started from 0; one closed during it is lost (pools keep theirs).
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

async function transactionsOf(admin: pg.Client, database: string): Promise<number> {
  const { rows } = await admin.query<{ transactions: string }>(
    'SELECT xact_commit + xact_rollback AS transactions FROM pg_stat_database WHERE datname = $1',
    [database],
  );
  return Number(rows[0]?.transactions ?? 0);
}

type PostgresSetup = 'postgres' | 'postgres-async-commit';

/**
 * The variant's connection option: a commit returns before PostgreSQL has flushed it to disk. It
 * survives a killed scangate process; a crash of PostgreSQL or its machine can lose the last
 * commits (at most 3 × wal_writer_delay, 0.6 s by default), never corrupts: the trade SQLite's
 * `synchronous = NORMAL` makes on a power loss.
 */
const ASYNC_COMMIT_OPTIONS = '-c synchronous_commit=off';

interface Setup {
  name: 'sqlite' | PostgresSetup;
  apis: ScangateProcess[];
  workers: ScangateProcess[];
}

/**
 * Issue #14's scale-out target on the bench's one clamd: 100 KB async uploads against one `serve`
 * process on SQLite and against 2 API + 2 worker processes on a fresh PostgreSQL database (the same
 * scan slots in all, uploads staged in a data directory the four share), raw clamd beside them, at
 * every concurrency of the run; then the PostgreSQL transactions the idle 2 + 2 cost.
 */
export async function runScaleout(bench: Bench, teardown: TeardownList): Promise<ScaleoutResult> {
  const { options } = bench;
  const admin = adminUrl(bench);
  const suffix = randomBytes(4).toString('hex');
  // The shipped configuration, and the same 2 + 2 with asynchronous commits on a database of its own.
  const databases: Record<PostgresSetup, string> = {
    postgres: `scangate_bench_${suffix}`,
    'postgres-async-commit': `scangate_bench_${suffix}_async`,
  };
  const dropDatabases = () =>
    withAdmin(admin, async (client) => {
      for (const database of Object.values(databases))
        await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    });
  teardown.add('the scale-out databases', dropDatabases);
  await withAdmin(admin, async (client) => {
    for (const database of Object.values(databases)) await client.query(`CREATE DATABASE ${database}`);
  });
  bench.log(`scale-out: databases ${Object.values(databases).join(', ')}`);

  const started: ScangateProcess[] = [];
  const stopAll = async () => {
    await Promise.all(started.map((service) => service.stop()));
  };
  teardown.add('the scale-out services', stopAll);
  const killAll = () => {
    for (const service of started) service.killNow();
  };
  // Last resort if the bench exits without its teardown: no service of this phase is left behind.
  process.once('exit', killAll);

  const slots = options.workerConcurrency;
  const workerConcurrency = splitSlots(slots, WORKER_PROCESSES);
  const baseEnv = {
    API_KEYS: `bench=${bench.apiKey}`,
    CLAMD_ADDRESS: bench.clamd.socketPath,
    SIGNATURES: 'test',
    MAX_FILE_SIZE: String(bench.maxFileSizeBytes),
    SCAN_TIMEOUT_MS: '600000',
    LOG_LEVEL: options.logLevel,
    ...(options.serviceNodeOptions ? { NODE_OPTIONS: options.serviceNodeOptions } : {}),
  };
  const start = async (name: string, env: Record<string, string>, dataDir = name) => {
    const service = await startScangate({
      dataDir: path.join(bench.tempDir, `scangate-${dataDir}`),
      env: { ...baseEnv, ...env },
      cpuProfileDir: options.cpuProfileDir,
    });
    started.push(service);
    bench.log(`scale-out: ${name} at ${service.url} (pid ${service.pid})`);
    return service;
  };

  const result: ScaleoutResult = {
    fileBytes: SCALEOUT_FILE_BYTES,
    files: options.scaleoutFiles,
    workerSlots: slots,
    apiProcesses: API_PROCESSES,
    workerProcesses: workerConcurrency.length,
    workerConcurrency,
    runs: [],
  };
  const dataSet = await generateDataSet(path.join(bench.dataRoot, 'scaleout'), {
    name: '100KB',
    bytes: SCALEOUT_FILE_BYTES,
    count: options.scaleoutFiles,
  });
  const adminClient = new pg.Client({ connectionString: admin, application_name: 'scangate-bench' });
  await adminClient.connect();
  try {
    const sqlite: Setup = {
      name: 'sqlite',
      apis: [await start('sqlite', { WORKER_CONCURRENCY: String(slots) })],
      workers: [],
    };
    const startPostgres = async (name: PostgresSetup): Promise<Setup> => {
      const env = (role: 'api' | 'worker') => ({
        SCANGATE_ROLE: role,
        DATABASE_URL: databaseUrl(
          admin,
          databases[name],
          name === 'postgres-async-commit' ? ASYNC_COMMIT_OPTIONS : undefined,
        ),
      });
      // The first one runs the migrations; the rest start together. One data directory for the four:
      // uploads over INLINE_UPLOAD_MAX_BYTES are staged in it by an API process and read by a worker.
      const firstApi = await start(`${name} api-1`, env('api'), name);
      const others = await Promise.all([
        start(`${name} api-2`, env('api'), name),
        ...workerConcurrency.map((share, index) =>
          start(`${name} worker-${index + 1}`, { ...env('worker'), WORKER_CONCURRENCY: String(share) }, name),
        ),
      ]);
      return { name, apis: [firstApi, others[0]!], workers: others.slice(1) };
    };
    const postgres = await startPostgres('postgres');
    const asyncCommit = await startPostgres('postgres-async-commit');
    const setups = [sqlite, postgres, asyncCommit];
    const everyService = setups.flatMap((setup) => [...setup.apis, ...setup.workers]);

    const freshClamd = async () => {
      await bench.clamd.restart();
      await Promise.all(everyService.map((service) => waitUntilReady(service.url)));
    };
    const processCpu = (services: ScangateProcess[]) =>
      services.reduce((total, service) => total + cpuSeconds(service.pid), 0);

    const measureSetup = async (setup: Setup, concurrency: number): Promise<ScaleoutRun> => {
      const payloads = await loadPayloads(dataSet, new RoundStamp());
      const clients = setup.apis.map(
        (api) => new ScangateClient(api.url, bench.apiKey, Math.ceil(concurrency / setup.apis.length)),
      );
      const client = new RoundRobinClient(clients);
      try {
        const read = async () => ({
          clamd: cpuSeconds(bench.clamd.pid),
          api: processCpu(setup.apis),
          worker: processCpu(setup.workers),
          postgres:
            setup.name === 'sqlite' ? new Map() : await backendCpu(adminClient, databases[setup.name]),
          client: process.cpuUsage(),
        });
        const before = await read();
        let after = before;
        // Read when the last verdict is seen, before the jobs are read back for the latencies.
        const reading: Promise<void>[] = [];
        const measured = await measureAsync(client, payloads, concurrency, () => {
          reading.push(
            read().then((values) => {
              after = values;
            }),
          );
        });
        await Promise.all(reading);
        const clientCpu = process.cpuUsage(before.client);
        return {
          setup: setup.name,
          concurrency,
          files: payloads.length,
          seconds: round(measured.seconds, 3),
          filesPerSecond: roundRate(payloads.length / measured.seconds),
          latency: summarize(measured.latenciesMs),
          ...(measured.submitLatenciesMs ? { submitLatency: summarize(measured.submitLatenciesMs) } : {}),
          ...(measured.inWorkerMs ? { inWorker: summarize(measured.inWorkerMs) } : {}),
          verdicts: measured.verdicts,
          cpuSeconds: {
            clamd: round(after.clamd - before.clamd),
            api: round(after.api - before.api),
            // The single process scans too: its CPU is counted once, under api.
            worker: round(after.worker - before.worker),
            postgres: round(backendCpuSince(before.postgres, after.postgres)),
            client: round((clientCpu.user + clientCpu.system) / 1e6),
          },
        };
      } finally {
        await client.close();
      }
    };

    for (const concurrency of options.concurrency) {
      await freshClamd();
      const raw = await runRound(
        {
          socketPath: bench.clamd.socketPath,
          clamdPid: () => bench.clamd.pid,
          scangatePid: undefined,
          client: () => {
            throw new Error('a raw round has no client');
          },
        },
        'test',
        'raw',
        { name: '100KB', bytes: SCALEOUT_FILE_BYTES },
        await loadPayloads(dataSet, new RoundStamp()),
        concurrency,
      );
      result.runs.push({
        setup: 'raw',
        concurrency,
        files: raw.files,
        seconds: raw.seconds,
        filesPerSecond: raw.filesPerSecond,
        latency: raw.latency,
        verdicts: raw.verdicts,
        cpuSeconds: {
          clamd: raw.cpuSeconds.clamd,
          api: 0,
          worker: 0,
          postgres: 0,
          client: raw.cpuSeconds.client,
        },
      });
      bench.log(`scale-out raw 100KB c${concurrency}: ${raw.filesPerSecond} files/s`);
      // Alternate which setup goes first, so neither always runs on the warmer machine.
      const order = result.runs.length % 2 === 0 ? [...setups].reverse() : setups;
      for (const setup of order) {
        await freshClamd();
        result.runs.push(await measureSetup(setup, concurrency));
      }
      for (const setup of setups) {
        const run = result.runs.find(
          (entry) => entry.setup === setup.name && entry.concurrency === concurrency,
        );
        if (run) bench.log(describeRun(run, result.runs));
      }
    }

    if (options.scaleoutIdleSeconds > 0) {
      // Nothing left to do: every job has its verdict, then the 2 + 2 sit idle.
      for (const api of postgres.apis) {
        const client = new ScangateClient(api.url, bench.apiKey, 1);
        await waitUntilNonePending(client, 50).finally(() => client.close());
      }
      // A short window (the smoke test) is not judged: it need not wait the full settling time either.
      const settleSeconds = Math.min(IDLE_SETTLE_SECONDS, options.scaleoutIdleSeconds);
      await sleep(settleSeconds * 1000);
      const before = await transactionsOf(adminClient, databases.postgres);
      const windowStarted = Date.now();
      await sleep(options.scaleoutIdleSeconds * 1000);
      const transactions = (await transactionsOf(adminClient, databases.postgres)) - before;
      const seconds = (Date.now() - windowStarted) / 1000;
      result.idle = {
        settleSeconds,
        seconds: round(seconds, 1),
        transactions,
        transactionsPerSecond: round(transactions / seconds),
      };
      bench.log(
        `scale-out idle: ${transactions} PostgreSQL transactions in ${round(seconds, 1)} s ` +
          `(${result.idle.transactionsPerSecond}/s) from 2 API + ${workerConcurrency.length} worker processes`,
      );
    }
  } finally {
    await adminClient.end();
    await stopAll();
    process.removeListener('exit', killAll);
    await dropDatabases();
  }
  return result;
}

function describeRun(run: ScaleoutRun, runs: ScaleoutRun[]): string {
  const ratio =
    run.setup === 'sqlite' ? '' : `, ${scaleoutRatio(runs, run.concurrency, run.setup) ?? '?'}× sqlite`;
  const perThousand = (seconds: number) => round((seconds / run.files) * 1000, 3);
  const cpu = run.cpuSeconds;
  return (
    `scale-out ${run.setup} 100KB c${run.concurrency}: ${run.filesPerSecond} files/s, p99 ${run.latency.p99Ms} ms${ratio}; ` +
    (run.inWorker ? `lease to verdict mean ${run.inWorker.meanMs} ms, p50 ${run.inWorker.p50Ms} ms; ` : '') +
    `CPU s/1000 files clamd ${perThousand(cpu.clamd)} api ${perThousand(cpu.api)} worker ${perThousand(cpu.worker)} ` +
    `postgres ${perThousand(cpu.postgres)}`
  );
}

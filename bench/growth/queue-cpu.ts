/**
 * `node bench/growth/queue-cpu.ts [--jobs N] [--tenants N]`: what one queued job costs the database
 * (issue #18's capacity model, docs/SCALING.md). It submits, claims and completes N jobs one at a
 * time through the real store (PostgresStore on a database of its own, one connection), reads the
 * CPU time of that connection's server process from /proc before and after, and prints jobs per
 * PostgreSQL core-second, with the WAL written (cluster-wide: other work on the server adds to it,
 * so it is an upper bound). The same loop on SQLite gives the CPU of this process per job.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { Store } from '../../src/store/contracts.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '3000' },
    tenants: { type: 'string', default: '1' },
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
});
const jobs = Number(values.jobs);
const tenants = Number(values.tenants);
const CLOCK_TICKS = 100; // USER_HZ on Linux

function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function cycle(store: Store, count: number): Promise<number> {
  const started = performance.now();
  const stamp = Date.now();
  for (let index = 0; index < count; index++) {
    await store.jobs.submit({
      id: `cpu-${stamp}-${index}`,
      tenantId: `tenant-${index % tenants}`,
      dialect: 'native',
      source: { kind: 'upload', blobKey: 'uploads/none', size: 1024 },
    });
    const leased = await store.jobs.lease(60_000);
    if (!leased) throw new Error('nothing to claim');
    await store.jobs.complete(leased.job.id, leased.leaseToken, { status: 'clean', size: 1024 });
  }
  return (performance.now() - started) / 1000;
}

async function postgres(): Promise<Record<string, number | string>> {
  const database = `scangate_queue_cpu_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: values['database-url'] });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(values['database-url']);
  url.pathname = `/${database}`;
  const store = new PostgresStore(url.toString(), 1);
  try {
    await store.init();
    await cycle(store, 200); // warm: plans, caches, the connection
    const { rows } = await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'scangate'",
      [database],
    );
    if (rows.length !== 1) throw new Error(`expected one scangate connection, found ${rows.length}`);
    const pid = rows[0]!.pid;
    const walBefore = (await admin.query<{ lsn: string }>('SELECT pg_current_wal_lsn() AS lsn')).rows[0]!.lsn;
    const cpuBefore = cpuSecondsOf(pid);
    const ownBefore = process.cpuUsage();
    const seconds = await cycle(store, jobs);
    const cpu = cpuSecondsOf(pid) - cpuBefore;
    const own = process.cpuUsage(ownBefore);
    const wal = (
      await admin.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes', [
        walBefore,
      ])
    ).rows[0]!.bytes;
    return {
      dialect: 'postgres',
      jobs,
      tenants,
      wallSeconds: Math.round(seconds * 100) / 100,
      serverCpuSeconds: cpu,
      jobsPerServerCoreSecond: Math.round(jobs / cpu),
      clientCpuMsPerJob: Math.round(((own.user + own.system) / 1000 / jobs) * 1000) / 1000,
      walBytesPerJobAtMost: Math.round(Number(wal) / jobs),
    };
  } finally {
    await store.close();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }
}

async function sqlite(): Promise<Record<string, number | string>> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'scangate-queue-cpu-'));
  const store = new SqliteStore(path.join(directory, 'scangate.db'));
  try {
    await store.init();
    await cycle(store, 200);
    const before = process.cpuUsage();
    const seconds = await cycle(store, jobs);
    const used = process.cpuUsage(before);
    const cpu = (used.user + used.system) / 1e6;
    return {
      dialect: 'sqlite',
      jobs,
      tenants,
      wallSeconds: Math.round(seconds * 100) / 100,
      processCpuSeconds: Math.round(cpu * 100) / 100,
      jobsPerCoreSecond: Math.round(jobs / cpu),
    };
  } finally {
    await store.close();
    await rm(directory, { recursive: true, force: true });
  }
}

console.log(
  JSON.stringify({ loadAverage: os.loadavg()[0], results: [await sqlite(), await postgres()] }, null, 2),
);

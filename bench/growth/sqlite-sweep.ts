/**
 * `node bench/growth/sqlite-sweep.ts [--baseline DIR] [--rounds N] [--retained N] [--expired N]`:
 * what the SQLite retention sweep costs the writes on the main thread (issue #18: submit p99 within
 * 2× while the sweep deletes). It fills a file once with `--retained` results (bench/growth/fill.ts),
 * and each round copies it, adds `--expired` expired results, opens the store, and submits one job
 * at a time with a 1 ms pause in between (as a server's submits arrive between other work), first
 * alone, then while the store's sweep runs; it reports submit p50/p99/max (the store call, which is
 * where a wait for SQLite's lock blocks the event loop), the event loop's p99 delay, and rows/s.
 *
 * `--baseline DIR` loads the store from another checkout too (e.g. `git worktree add /tmp/base
 * main`) and alternates the two round by round (ABBA), so both see the same load.
 */
import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as pause } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Store } from '../../src/store/contracts.ts';
import { type LatencySummary, round, summarize } from '../stats.ts';
import { SqliteGrowthStore } from './fill.ts';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    retained: { type: 'string', default: '1000000' },
    expired: { type: 'string', default: '50000' },
    'submits-before': { type: 'string', default: '1000' },
  },
});
const REPO = path.resolve(import.meta.dirname, '../..');

interface Variant {
  label: string;
  SqliteStore: new (file: string) => Store;
}

async function variantFrom(label: string, root: string): Promise<Variant> {
  const module = await import(path.join(root, 'src/store/sqlite/store.ts'));
  return { label, SqliteStore: module.SqliteStore };
}

interface RoundResult {
  label: string;
  load: number;
  before: LatencySummary;
  during: LatencySummary;
  loopDelayBeforeP99Ms: number;
  loopDelayDuringP99Ms: number;
  rowsPerSecond: number;
  walMiB: number;
}

async function submitOnce(store: Store, id: string): Promise<number> {
  const started = performance.now();
  await store.jobs.submit({
    id,
    tenantId: 'tenant-big',
    dialect: 'native',
    source: { kind: 'upload', blobKey: 'uploads/none', size: 1024 },
  });
  return performance.now() - started;
}

async function measureRound(variant: Variant, template: string, directory: string, round_: number) {
  const file = path.join(directory, `round-${round_}-${variant.label}.db`);
  await copyFile(template, file);
  const fill = new SqliteGrowthStore(file);
  await fill.addExpired(Number(values.expired));
  await fill.close();
  const store = new variant.SqliteStore(file);
  await store.init();
  try {
    const tag = `${variant.label}-${round_}`;
    const delay = monitorEventLoopDelay({ resolution: 1 });
    for (let index = 0; index < 50; index++) await submitOnce(store, `${tag}-warm-${index}`);
    delay.enable();
    const before: number[] = [];
    for (let index = 0; index < Number(values['submits-before']); index++) {
      before.push(await submitOnce(store, `${tag}-before-${index}`));
      await pause(1);
    }
    delay.disable();
    const loopDelayBeforeP99Ms = delay.percentile(99) / 1e6;
    delay.reset();
    const load = round(os.loadavg()[0]!, 2);
    let sweeping = true;
    const during: number[] = [];
    const submits = (async () => {
      for (let index = 0; sweeping; index++) {
        during.push(await submitOnce(store, `${tag}-during-${index}`));
        await pause(1);
      }
    })();
    delay.enable();
    const started = performance.now();
    const removed = await store.jobs.sweepExpired(new Date(Date.now() - 24 * 3_600_000));
    const seconds = (performance.now() - started) / 1000;
    sweeping = false;
    await submits;
    delay.disable();
    const walMiB = round((await stat(`${file}-wal`)).size / 2 ** 20, 1);
    return {
      walMiB,
      label: variant.label,
      load,
      before: summarize(before),
      during: summarize(during),
      loopDelayBeforeP99Ms: round(loopDelayBeforeP99Ms),
      loopDelayDuringP99Ms: round(delay.percentile(99) / 1e6),
      rowsPerSecond: Math.round(removed.jobs / seconds),
    } satisfies RoundResult;
  } finally {
    await store.close();
    await rm(file, { force: true });
    await rm(`${file}-wal`, { force: true });
    await rm(`${file}-shm`, { force: true });
  }
}

const directory = await mkdtemp(path.join(os.tmpdir(), 'scangate-sweep-bench-'));
try {
  const current = await variantFrom('this', REPO);
  const variants = [current];
  if (values.baseline) variants.unshift(await variantFrom('baseline', path.resolve(values.baseline)));
  const template = path.join(directory, 'template.db');
  const migrated = new current.SqliteStore(template);
  await migrated.init();
  await migrated.close();
  const fill = new SqliteGrowthStore(template);
  const filling = performance.now();
  await fill.addRetained(0, Number(values.retained));
  await fill.close();
  console.log(`filled ${values.retained} retained in ${round((performance.now() - filling) / 1000, 1)} s`);
  const results: RoundResult[] = [];
  for (let index = 0; index < Number(values.rounds); index++) {
    const order = index % 2 === 0 ? variants : [...variants].reverse();
    for (const variant of order) {
      const result = await measureRound(variant, template, directory, index);
      results.push(result);
      console.log(
        `${result.label.padEnd(8)} load ${result.load}: submit p50/p99/max ${result.before.p50Ms}/${result.before.p99Ms}/${result.before.maxMs} → ${result.during.p50Ms}/${result.during.p99Ms}/${result.during.maxMs} ms during the sweep (${round(result.during.p99Ms / result.before.p99Ms)}× p99, ${result.during.count} submits); loop delay p99 ${result.loopDelayBeforeP99Ms} → ${result.loopDelayDuringP99Ms} ms; ${result.rowsPerSecond} rows/s; WAL ${result.walMiB} MiB after`,
      );
    }
  }
} finally {
  await rm(directory, { recursive: true, force: true });
}

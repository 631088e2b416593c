/**
 * `node bench/growth/churn.ts`: does the SQLite file stop growing under a day's retention churn
 * replayed fast (issue #18)? A simulated clock runs over several days: the store holds `--retained`
 * results completed over the last 24 simulated hours, and each step adds the next hours' results (in
 * time order, random job ids, half one tenant's, half spread over 9,999 others) and runs the store's
 * own retention sweep (store.jobs.sweepExpired, on its maintenance thread) with the cutoff 24 hours
 * before the simulated now. Every result is replaced once per simulated day, as in a service that
 * keeps results 24 hours; `npm run bench:growth`'s churn cycles instead add and sweep a slice older
 * than the retained results, which stay put.
 *
 * After each step it records the file's pages, free pages and each b-tree's pages and fill (dbstat).
 * `node bench/growth/churn.ts --help` lists the options.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openStore, sqliteStorePath } from '../../src/store/open-store.ts';
import { formatJson, machineInfo } from '../report.ts';
import { round } from '../stats.ts';
import { SqliteGrowthStore, type StorageFigures } from './fill.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const USAGE = `node bench/growth/churn.ts [options]

  --retained N        results kept (completed in the last 24 simulated hours; default 1000000)
  --days N            simulated days of churn after the first fill (default 3)
  --steps-per-day N   add-and-sweep steps per simulated day (default 8: three hours each)
  --out FILE          results JSON (default bench/results/growth-churn.json)
`;

const { values: args } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h' },
    retained: { type: 'string', default: '1000000' },
    days: { type: 'string', default: '3' },
    'steps-per-day': { type: 'string', default: '8' },
    out: { type: 'string', default: path.join(REPO, 'bench/results/growth-churn.json') },
  },
});

interface ChurnStep {
  day: number;
  simulatedHour: number;
  added: number;
  swept: number;
  sweepSeconds: number;
  loadAverage: number;
  storage: StorageFigures;
}

const loadAverage = () => round(os.loadavg()[0]!, 2);
const MiB = 1024 * 1024;

function summary(step: ChurnStep): string {
  const detail = step.storage.detail;
  const btrees = Object.keys(detail)
    .filter((key) => key.startsWith('pages:'))
    .map((key) => key.slice('pages:'.length))
    .filter((name) => (detail[`pages:${name}`] ?? 0) > 1000)
    .map((name) => `${name} ${detail[`pages:${name}`]}p ${detail[`fill:${name}`]}`)
    .join(', ');
  return `day ${step.day} h${step.simulatedHour}: ${round(step.storage.bytes / MiB, 1)} MiB, free ${detail.freelistCount}, rows ${detail.jobRows}; swept ${step.swept} in ${step.sweepSeconds} s; ${btrees}`;
}

async function main(): Promise<void> {
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  const retained = Number(args.retained);
  const days = Number(args.days);
  const stepsPerDay = Number(args['steps-per-day']);
  const stepMs = DAY_MS / stepsPerDay;
  const perStep = Math.round(retained / stepsPerDay);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'scangate-churn-'));
  const store = await openStore({ dataDir, store: { databaseUrl: '', poolSize: 1 } });
  const fill = new SqliteGrowthStore(sqliteStorePath(dataDir));
  const startedAt = new Date();
  // The simulated days end before the real now: nothing the bench adds is in the future.
  const firstDay = Date.now() - (days + 1) * DAY_MS;
  const steps: ChurnStep[] = [];
  const report = {
    command: `node bench/growth/churn.ts ${process.argv.slice(2).join(' ')}`.trim(),
    startedAt: startedAt.toISOString(),
    durationSeconds: 0,
    machine: machineInfo(REPO, 'not used'),
    settings: { retained, days, stepsPerDay },
    steps,
  };
  const save = async () => {
    report.durationSeconds = round((Date.now() - startedAt.getTime()) / 1000, 0);
    await writeFile(path.resolve(args.out), `${formatJson(report)}\n`);
  };
  try {
    fill.addCompletedBetween(retained, firstDay - DAY_MS, firstDay);
    steps.push({
      day: 0,
      simulatedHour: 0,
      added: retained,
      swept: 0,
      sweepSeconds: 0,
      loadAverage: loadAverage(),
      storage: await fill.storage(),
    });
    console.log(summary(steps[0]!));
    for (let step = 1; step <= days * stepsPerDay; step++) {
      const now = firstDay + step * stepMs;
      fill.addCompletedBetween(perStep, now - stepMs, now);
      const started = performance.now();
      const removed = await store.jobs.sweepExpired(new Date(now - DAY_MS));
      const sweepSeconds = round((performance.now() - started) / 1000, 1);
      steps.push({
        day: Math.ceil(step / stepsPerDay),
        simulatedHour: round((((step - 1) % stepsPerDay) + 1) * (stepMs / HOUR_MS), 2),
        added: perStep,
        swept: removed.jobs,
        sweepSeconds,
        loadAverage: loadAverage(),
        storage: await fill.storage(),
      });
      console.log(summary(steps.at(-1)!));
      await save();
    }
  } finally {
    await save();
    await fill.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();

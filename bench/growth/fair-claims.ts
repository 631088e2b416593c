/**
 * `node bench/growth/fair-claims.ts [--baseline DIR] [--rounds N] [--seconds S] [--dialects LIST]`:
 * the claim path under concurrency, one busy tenant against 10,000 (issue #18). For each store it
 * fills a queue, then runs `--workers` claim loops (lease + complete, as worker slots do) and one
 * submitter (submit one at a time, into the same tenant) for `--seconds`, and reports claims per
 * second and the submitter's p50/p99. With one tenant every write goes to that tenant's row of
 * tenant_queue: this is where a hot row would show.
 *
 * `--batched` runs the claim side as a node does instead (src/lease-loop.ts with leaseMany for the
 * free slots, completions through GroupCommit into completeMany) and the submit side as the API does
 * (8 clients submitting through GroupCommit into submitMany): transactions that touch the busy
 * tenant's row carry a batch each.
 *
 * `--baseline DIR` loads a second copy of the store from another checkout (e.g. `git worktree add
 * /tmp/base main`) into this process and alternates the two, round by round, so both are measured
 * under the same load; the table gives each round and the ratio of the medians.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { GroupCommit } from '../../src/jobs/group-commit.ts';
import { LeaseLoop } from '../../src/lease-loop.ts';
import type { NewScanJob } from '../../src/scan.ts';
import type { JobCompletion, LeasedJob, Store } from '../../src/store/contracts.ts';
import { round, summarize } from '../stats.ts';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    batched: { type: 'boolean' },
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '4' },
    workers: { type: 'string', default: '4' },
    queued: { type: 'string', default: '20000' },
    dialects: { type: 'string', default: 'sqlite,postgres' },
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const REPO = path.resolve(import.meta.dirname, '../..');
const seconds = Number(values.seconds);
const workers = Number(values.workers);
const queued = Number(values.queued);

interface StoreModules {
  label: string;
  sqlite: new (file: string) => Store;
  postgres: new (url: string, poolSize: number, schema: string) => Store;
}

async function modulesFrom(label: string, root: string): Promise<StoreModules> {
  const sqlite = await import(path.join(root, 'src/store/sqlite/store.ts'));
  const postgres = await import(path.join(root, 'src/store/postgres/store.ts'));
  return { label, sqlite: sqlite.SqliteStore, postgres: postgres.PostgresStore };
}

function job(id: string, tenantId: string): NewScanJob {
  return { id, tenantId, dialect: 'native', source: { kind: 'upload', blobKey: 'uploads/none', size: 1024 } };
}

interface RoundResult {
  claimsPerSecond: number;
  submitP50Ms: number;
  submitP99Ms: number;
}

async function measure(store: Store, tenants: number, tag: string): Promise<RoundResult> {
  for (let start = 0; start < queued; start += 500) {
    await store.jobs.submitMany(
      Array.from({ length: Math.min(500, queued - start) }, (_, offset) =>
        job(`${tag}-${start + offset}`, `tenant-${(start + offset) % tenants}`),
      ),
    );
  }
  if (values.batched) return measureBatched(store, tag);
  const until = performance.now() + seconds * 1000;
  let claims = 0;
  const claimLoop = async () => {
    while (performance.now() < until) {
      const leased = await store.jobs.lease(60_000);
      if (!leased) break;
      await store.jobs.complete(leased.job.id, leased.leaseToken, { status: 'clean', size: 1024 });
      claims++;
    }
  };
  const submitLatencies: number[] = [];
  const submitter = async () => {
    for (let index = 0; performance.now() < until; index++) {
      const started = performance.now();
      await store.jobs.submit(job(`${tag}-s-${index}`, 'tenant-0'));
      submitLatencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all([...Array.from({ length: workers }, claimLoop), submitter()]);
  const elapsed = (performance.now() - started) / 1000;
  const submit = summarize(submitLatencies);
  return {
    claimsPerSecond: round(claims / elapsed, 1),
    submitP50Ms: submit.p50Ms,
    submitP99Ms: submit.p99Ms,
  };
}

const CLEAN = { status: 'clean' as const, size: 1024 };

/** The node's paths: a lease loop over `workers` slots, completions and submits group-committed. */
async function measureBatched(store: Store, tag: string): Promise<RoundResult> {
  const completions = new GroupCommit<JobCompletion, boolean>((items) => store.jobs.completeMany(items));
  const submissions = new GroupCommit((jobs: NewScanJob[]) => store.jobs.submitMany(jobs));
  let claims = 0;
  const loop = new LeaseLoop<LeasedJob>({
    concurrency: workers,
    pollIntervalMs: 50,
    leaseErrorDelayMs: 500,
    lease: (free) => store.jobs.leaseMany(60_000, free),
    handle: async (leased) => {
      await completions.add({ jobId: leased.job.id, leaseToken: leased.leaseToken, result: CLEAN });
      claims++;
    },
    onLeaseError: (error) => {
      throw error;
    },
  });
  const until = performance.now() + seconds * 1000;
  const submitLatencies: number[] = [];
  const client = async (clientIndex: number) => {
    for (let index = 0; performance.now() < until; index++) {
      const started = performance.now();
      const [outcome] = await Promise.all([
        submissions.add(job(`${tag}-s-${clientIndex}-${index}`, 'tenant-0')),
      ]);
      if (outcome?.error) throw outcome.error;
      submitLatencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  loop.start();
  await Promise.all(Array.from({ length: 8 }, (_, index) => client(index)));
  const elapsed = (performance.now() - started) / 1000;
  const counted = claims;
  await loop.stop(5_000, () => {});
  const submit = summarize(submitLatencies);
  return {
    claimsPerSecond: round(counted / elapsed, 1),
    submitP50Ms: submit.p50Ms,
    submitP99Ms: submit.p99Ms,
  };
}

async function openStore(modules: StoreModules, dialect: string, name: string) {
  if (dialect === 'sqlite') {
    const directory = await mkdtemp(path.join(os.tmpdir(), 'scangate-fair-claims-'));
    const store = new modules.sqlite(path.join(directory, 'scangate.db'));
    await store.init();
    return { store, drop: () => rm(directory, { recursive: true, force: true }) };
  }
  const schema = `fair_claims_${name}_${process.pid}`;
  const store = new modules.postgres(values['database-url'], workers + 2, schema);
  await store.init();
  return {
    store,
    drop: async () => {
      const client = new pg.Client({ connectionString: values['database-url'] });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}

const median = (numbers: number[]) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

async function main(): Promise<void> {
  const variants = [await modulesFrom('this checkout', REPO)];
  if (values.baseline) variants.unshift(await modulesFrom('baseline', path.resolve(values.baseline)));
  console.log(
    `${values.batched ? `a lease loop of ${workers} slots (leaseMany, completeMany) + 8 group-committed submitters` : `${workers} claim loops + 1 submitter`}, ${seconds} s per round, ${queued} jobs queued first; load ${os.loadavg()[0]!.toFixed(2)}`,
  );
  console.log('| dialect | tenants | store | claims/s per round | submit p50 / p99 ms per round | load |');
  console.log('| --- | ---: | --- | --- | --- | ---: |');
  for (const dialect of values.dialects.split(',')) {
    for (const tenants of [1, 10_000]) {
      const results = new Map<string, RoundResult[]>(variants.map((variant) => [variant.label, []]));
      for (let roundIndex = 0; roundIndex < Number(values.rounds); roundIndex++) {
        for (const variant of variants) {
          const name = `${variant.label === 'baseline' ? 'b' : 't'}${roundIndex}_${tenants}`;
          const { store, drop } = await openStore(variant, dialect, name);
          try {
            results.get(variant.label)!.push(await measure(store, tenants, name));
          } finally {
            await store.close();
            await drop();
          }
        }
      }
      for (const [label, rounds] of results) {
        console.log(
          `| ${dialect} | ${tenants} | ${label} | ${rounds.map((one) => one.claimsPerSecond).join(', ')} | ${rounds
            .map((one) => `${one.submitP50Ms} / ${one.submitP99Ms}`)
            .join(', ')} | ${os.loadavg()[0]!.toFixed(2)} |`,
        );
      }
      if (variants.length === 2) {
        const [before, after] = [...results.values()].map((rounds) => ({
          claims: median(rounds.map((one) => one.claimsPerSecond)),
          p99: median(rounds.map((one) => one.submitP99Ms)),
        }));
        console.log(
          `|  |  | this / baseline (medians) | ${round(after!.claims / before!.claims, 2)}× | p99 ${round(after!.p99 / before!.p99, 2)}× |  |`,
        );
      }
    }
  }
}

await main();

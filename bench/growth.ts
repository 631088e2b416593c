/**
 * `npm run bench:growth` (issue #18): how scangate's store behaves as the work grows. For each
 * dialect (SQLite, PostgreSQL) it starts scangate (`serve`, role api: no local workers, so the queue
 * stays as filled) and fills the store with SQL to each size of retained results (0, 1 M, 10 M over
 * 10,000 tenants), with no queued jobs and then with a million, measuring at each point: submit
 * p50/p99 (native uploads over HTTP), claims per second (each verdict stored with the next lease,
 * as a busy worker slot does), lookups by id and by trace_id, the native list's first and a deep
 * page, and the stats endpoint; the submits, claims and lookups also on an empty store beside it,
 * in turns. At each size it also adds a million expired results and times the
 * retention sweep with submits running. Once per dialect it compares one claim's cost with 10,000
 * tenants queued against one. Results go to bench/results/growth.json and a generated section of
 * BENCHMARKS.md, with the EXPLAIN of every hot statement at the largest size.
 *
 * `npm run bench:growth -- --help` lists the options.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Pool } from 'undici';
import { startService } from '../src/cli/service.ts';
import { type Config, loadConfig } from '../src/config.ts';
import type { Store } from '../src/store/contracts.ts';
import { sqliteStorePath } from '../src/store/open-store.ts';
import {
  BIG_TENANT,
  type GrowthStore,
  PostgresGrowthStore,
  retainedRow,
  SMALL_TENANT,
  SqliteGrowthStore,
} from './growth/fill.ts';
import { renderGrowthMarkdown, replaceGrowthSection } from './growth/markdown.ts';
import { hotQueries } from './growth/queries.ts';
import type {
  DialectResult,
  FairnessResult,
  GrowthReport,
  GrowthSettings,
  PointResult,
  SweepResult,
} from './growth/report.ts';
import { formatJson, machineInfo } from './report.ts';
import { type LatencySummary, round, summarize } from './stats.ts';

const REPO = path.resolve(import.meta.dirname, '..');
const HOUR_MS = 3_600_000;
const KEYS: Record<string, string> = {
  [BIG_TENANT]: `growth-big-${randomBytes(8).toString('hex')}`,
  [SMALL_TENANT]: `growth-small-${randomBytes(8).toString('hex')}`,
};

const USAGE = `npm run bench:growth -- [options]

  --sizes LIST        retained results to measure at (default 0,1M,10M; k and M suffixes)
  --postgres-sizes L  sizes for PostgreSQL when they differ (its fills are the slow part)
  --dialects LIST     sqlite,postgres (default both)
  --queued N          the deep queue measured at every size (default 1M; 0 skips it)
  --tenants N         tenants the queue is spread over (default 10000)
  --sweep-rows N      expired results the sweep deletes at each size above 0 (default 1M; 0 skips)
  --churn-cycles N    fill-and-sweep cycles at the first size with results (default 2)
  --submits N         submits per latency measurement (default 500)
  --claims N          claims per claims/s and fair-picking measurement, after 100 not counted,
                      each followed by a turn of the event loop (default 300)
  --sweep-window S    seconds of submits alongside each sweep (the sweep then finishes alone),
                      and before it for the p99 it is compared with (default 30)
  --database-url URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres);
                      the bench creates its own database there and drops it at the end
  --out FILE          results JSON (default bench/results/growth.json)
  --markdown FILE     report (default BENCHMARKS.md, the section between the growth markers)
  --rewrite-markdown  re-render the markdown from the JSON and stop
  --time-limit MIN    stop everything after this many minutes (default 120)
`;

function count(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text.trim());
  if (!match) throw new Error(`not a count: ${text}`);
  const scale = match[2]?.toLowerCase() === 'k' ? 1e3 : match[2]?.toLowerCase() === 'm' ? 1e6 : 1;
  return Math.round(Number(match[1]) * scale);
}

const { values: args } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h' },
    sizes: { type: 'string', default: '0,1M,10M' },
    'postgres-sizes': { type: 'string' },
    dialects: { type: 'string', default: 'sqlite,postgres' },
    queued: { type: 'string', default: '1M' },
    tenants: { type: 'string', default: '10000' },
    'sweep-rows': { type: 'string', default: '1M' },
    'churn-cycles': { type: 'string', default: '2' },
    submits: { type: 'string', default: '500' },
    claims: { type: 'string', default: '300' },
    'sweep-window': { type: 'string', default: '30' },
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    out: { type: 'string', default: path.join(REPO, 'bench/results/growth.json') },
    markdown: { type: 'string', default: path.join(REPO, 'BENCHMARKS.md') },
    'rewrite-markdown': { type: 'boolean' },
    'time-limit': { type: 'string', default: '120' },
  },
});

function sizesOf(list: string): number[] {
  return list
    .split(',')
    .map(count)
    .sort((a, b) => a - b);
}

const settings: GrowthSettings = {
  sizes: sizesOf(args.sizes),
  postgresSizes: sizesOf(args['postgres-sizes'] ?? args.sizes),
  dialects: args.dialects.split(',').map((name) => name.trim()) as ('sqlite' | 'postgres')[],
  queued: count(args.queued),
  tenants: count(args.tenants),
  sweepRows: count(args['sweep-rows']),
  churnCycles: count(args['churn-cycles']),
  submits: count(args.submits),
  claims: count(args.claims),
  sweepWindowSeconds: Number(args['sweep-window']),
};

const loadAverage = () => round(os.loadavg()[0]!, 2);

/** Writes the report as it stands (set by main): a run that dies keeps what it measured. */
let saveProgress: () => Promise<void> = async () => {};

class Http {
  readonly #url: string;
  #pool: Pool;
  constructor(url: string) {
    this.#url = url;
    this.#pool = new Pool(url, { connections: 2, pipelining: 1 });
  }

  async timed(
    method: 'GET' | 'POST',
    requestPath: string,
    tenant: string,
    expected: number,
    body?: Buffer,
    headers = {},
  ): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once(method, requestPath, tenant, expected, body, headers);
      } catch (error) {
        // A kept-alive socket the server closed as it was reused (a bulk fill holds this thread for
        // minutes, so both sides' keep-alive timers fire late): once more on a fresh connection.
        const code = (error as { code?: string }).code;
        if (attempt > 1 || (code !== 'ECONNRESET' && code !== 'UND_ERR_SOCKET')) throw error;
      }
    }
  }

  async #once(
    method: 'GET' | 'POST',
    requestPath: string,
    tenant: string,
    expected: number,
    body: Buffer | undefined,
    headers: Record<string, string>,
  ): Promise<number> {
    const started = performance.now();
    const response = await this.#pool.request({
      method,
      path: requestPath,
      headers: { authorization: `Bearer ${KEYS[tenant]}`, ...headers },
      ...(body ? { body } : {}),
    });
    const text = await response.body.text();
    const elapsed = performance.now() - started;
    if (response.statusCode !== expected)
      throw new Error(`${method} ${requestPath}: HTTP ${response.statusCode} ${text.slice(0, 200)}`);
    return elapsed;
  }

  /** New connections after a fill: the old ones may have been closed by the server meanwhile. */
  async reset(): Promise<void> {
    const old = this.#pool;
    this.#pool = new Pool(this.#url, { connections: 2, pipelining: 1 });
    await old.close();
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

const BOUNDARY = 'growth-bench-boundary';
function uploadBody(): Buffer {
  return Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    randomBytes(1024),
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

/** Submits first, unmeasured: the JIT and the connections warm up before the figures start. */
async function warmUp(http: Http): Promise<void> {
  for (let index = 0; index < 20; index++) await submitOnce(http);
}

async function submitOnce(http: Http): Promise<number> {
  return http.timed('POST', '/v1/scans/file', BIG_TENANT, 202, uploadBody(), {
    'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
  });
}

async function repeat(times: number, work: (index: number) => Promise<number>): Promise<LatencySummary> {
  const timings: number[] = [];
  for (let index = 0; index < times; index++) timings.push(await work(index));
  return summarize(timings);
}

const CLEAN = { status: 'clean' as const, size: 1024, engine: 'ClamAV 1.4.6', signatureVersion: '27000' };
const LEASE_MS = 60_000;

/**
 * Claims run before each claims measurement and not counted: the first claims of a measurement start
 * the SQLite store's maintenance thread (its WAL checkpoints, ~30–90 ms on the other core), which
 * is as long as a whole 300-claim measurement on the empty store.
 */
const CLAIM_WARM_UP = 100;

/** measureClaims after CLAIM_WARM_UP claims that are not counted. */
async function measureWarmClaims(
  store: Store,
  claims: number,
): Promise<Awaited<ReturnType<typeof measureClaims>>> {
  const warmUp = await measureClaims(store, CLAIM_WARM_UP);
  const measured = await measureClaims(store, claims);
  return { ...measured, ids: [...warmUp.ids, ...measured.ids] };
}

/**
 * Claims one at a time as a busy worker slot takes them (src/jobs/scan-worker-pool.ts): the first
 * leased alone, then each verdict stored in the transaction that leases the next job
 * (`completeAndLease`; the last leases none), so one write commit a claim. Each claim ends with a
 * turn of the event loop, as a slot's does while it waits for clamd: store calls right after a turn
 * cost more than in a loop of microtasks alone (0.27 against 0.21 ms per claim), and that loop once
 * hid the SQLite maintenance thread's checkpoints altogether (docs/SCALING.md, "what the bench's
 * claim loop measured").
 */
async function measureClaims(
  store: Store,
  claims: number,
  maxMs = 20_000,
): Promise<{ perSecond: number; ms: number; seconds: number; ids: string[] }> {
  const ids: string[] = [];
  const started = performance.now();
  let leased = claims > 0 ? await store.jobs.lease(LEASE_MS) : undefined;
  // Bounded in time too: a slow claim path (a wide tenant walk) would otherwise stall the run.
  while (leased && performance.now() - started < maxMs) {
    ids.push(leased.job.id);
    const completion = { jobId: leased.job.id, leaseToken: leased.leaseToken, result: CLEAN };
    const next = await store.jobs.completeAndLease([completion], {
      leaseMs: LEASE_MS,
      max: ids.length < claims ? 1 : 0,
    });
    leased = next.leased[0];
    await setImmediate();
  }
  const seconds = (performance.now() - started) / 1000;
  // Stopped by the clock with a job in hand: completed, so the next measurement finds the queue as left.
  if (leased) await store.jobs.complete(leased.job.id, leased.leaseToken, CLEAN);
  return {
    perSecond: round(ids.length / seconds, 1),
    ms: round((seconds * 1000) / Math.max(1, ids.length), 3),
    seconds,
    ids,
  };
}

interface OwnJobs {
  ids: string[];
  traceIds: string[];
}

/**
 * One running scangate the bench measures: the filled one, or the reference beside it whose store
 * only ever holds the bench's own jobs. Both are measured in turns at every point, so a ratio
 * between them is taken over the same seconds of the machine.
 */
interface Side {
  http: Http;
  store: Store;
  own: OwnJobs;
}

/**
 * Drains what earlier submits left queued and queues the jobs the claims measurement takes: one
 * tenant's, as on an empty store. Their ids are what lookups read where no results were filled.
 */
async function queueOwnJobs(side: Side): Promise<void> {
  while (await measureClaims(side.store, 1000, 60_000).then((drained) => drained.ids.length > 0)) {}
  const stamp = `${Date.now()}-${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: CLAIM_WARM_UP + settings.claims }, (_, index) => `c-${stamp}-${index}`);
  for (const id of ids) {
    await side.store.jobs.submit({
      id,
      tenantId: BIG_TENANT,
      traceId: `t${id}`,
      dialect: 'native',
      source: { kind: 'upload', blobKey: 'uploads/none', size: 1024 },
    });
  }
  side.own = { ids, traceIds: ids.map((id) => `t${id}`) };
}

type SideName = 'full' | 'reference';

/** The two sides in turns, ABBA, so a drift of the machine over the measurement weighs on both alike. */
async function inTurns<T>(
  times: number,
  work: (side: SideName, index: number) => Promise<T>,
): Promise<Record<SideName, T[]>> {
  const results: Record<SideName, T[]> = { full: [], reference: [] };
  for (let index = 0; index < times; index++) {
    const order = index % 2 === 0 ? (['reference', 'full'] as const) : (['full', 'reference'] as const);
    for (const side of order) results[side].push(await work(side, index));
  }
  return results;
}

/** `times` requests to each side in turns: two latency summaries over the same seconds. */
async function latenciesInTurns(
  times: number,
  work: (side: SideName, index: number) => Promise<number>,
): Promise<Record<SideName, LatencySummary>> {
  const timings = await inTurns(times, work);
  return { full: summarize(timings.full), reference: summarize(timings.reference) };
}

/** Claims in blocks of CLAIM_BLOCK, the sides in turns, after CLAIM_WARM_UP on each not counted. */
const CLAIM_BLOCK = 50;

interface ClaimRate {
  perSecond: number;
  ms: number;
}

async function claimsInTurns(
  sides: Record<SideName, Side>,
  claims: number,
): Promise<Record<SideName, ClaimRate>> {
  await measureClaims(sides.reference.store, CLAIM_WARM_UP);
  await measureClaims(sides.full.store, CLAIM_WARM_UP);
  const blocks = await inTurns(Math.ceil(claims / CLAIM_BLOCK), (side, block) =>
    measureClaims(sides[side].store, Math.min(CLAIM_BLOCK, claims - block * CLAIM_BLOCK)),
  );
  const rate = (measured: { seconds: number; ids: string[] }[]): ClaimRate => {
    const taken = measured.reduce((sum, block) => sum + block.ids.length, 0);
    const seconds = measured.reduce((sum, block) => sum + block.seconds, 0);
    return { perSecond: round(taken / seconds, 1), ms: round((seconds * 1000) / Math.max(1, taken), 3) };
  };
  return { full: rate(blocks.full), reference: rate(blocks.reference) };
}

async function measurePoint(
  full: Side,
  reference: Side,
  retained: number,
  queued: number,
): Promise<PointResult> {
  const load = loadAverage();
  await queueOwnJobs(reference);
  // With a deep queue the full store's claims take from it; without, from jobs of its own.
  if (queued === 0) await queueOwnJobs(full);
  const sides = { full, reference };
  const claims = await claimsInTurns(sides, settings.claims);
  await warmUp(reference.http);
  await warmUp(full.http);
  const submit = await latenciesInTurns(settings.submits, (side) => submitOnce(sides[side].http));
  const lookups = Math.min(100, settings.submits);
  // Results of the big tenant: bulk-filled ones when there are, else the ones claimed above.
  const pick = (side: SideName, index: number) => {
    if (side === 'full' && retained > 0)
      return retainedRow(2 * Math.floor(((index * 7_368_787) % retained) / 2));
    const { own } = sides[side];
    return { id: own.ids[index % own.ids.length]!, traceId: own.traceIds[index % own.traceIds.length]! };
  };
  const lookupById = await latenciesInTurns(lookups, (side, index) =>
    sides[side].http.timed('GET', `/v1/scans/${pick(side, index).id}`, BIG_TENANT, 200),
  );
  const lookupByTraceId = await latenciesInTurns(lookups, (side, index) =>
    sides[side].http.timed(
      'GET',
      `/api/v1/scan/async/result?trace_id=${pick(side, index).traceId}`,
      BIG_TENANT,
      200,
    ),
  );
  const { http } = full;
  const listFirstPage = await repeat(20, () => http.timed('GET', '/v1/scans?limit=50', BIG_TENANT, 200));
  const deep = new Date(Date.now() - 20 * HOUR_MS).toISOString();
  const listDeepPage = await repeat(20, () =>
    http.timed('GET', `/v1/scans?limit=50&before=${deep}`, BIG_TENANT, 200),
  );
  const statsBigTenant = await repeat(10, () => http.timed('GET', '/v1/stats?hours=24', BIG_TENANT, 200));
  const statsSmallTenant = await repeat(10, () => http.timed('GET', '/v1/stats?hours=24', SMALL_TENANT, 200));
  return {
    retained,
    queued,
    loadAverage: load,
    submit: submit.full,
    claimsPerSecond: claims.full.perSecond,
    claimMs: claims.full.ms,
    lookupById: lookupById.full,
    lookupByTraceId: lookupByTraceId.full,
    listFirstPage,
    listDeepPage,
    statsBigTenant,
    statsSmallTenant,
    reference: {
      submit: submit.reference,
      claimsPerSecond: claims.reference.perSecond,
      claimMs: claims.reference.ms,
      lookupById: lookupById.reference,
      lookupByTraceId: lookupByTraceId.reference,
    },
  };
}

async function measureSweep(
  http: Http,
  store: Store,
  fill: GrowthStore,
  retained: number,
): Promise<SweepResult> {
  const storageBefore = await fill.storage();
  const firstOwnSeq = (await fill.lastSeq()) + 1;
  await warmUp(http);
  // As many seconds of submits before as alongside: a p99 of 300 submits moved 0.9–3.1 ms between
  // two runs of the same code, enough to decide the ratio alone.
  const windowMs = (settings.sweepWindowSeconds ?? 30) * 1000;
  const before: number[] = [];
  const beforeStarted = performance.now();
  while (performance.now() - beforeStarted < windowMs) before.push(await submitOnce(http));
  const submitBefore = summarize(before);
  await fill.addExpired(settings.sweepRows);
  await http.reset();
  const storageFilled = await fill.storage();
  const load = loadAverage();
  const cutoff = new Date(Date.now() - 24 * HOUR_MS);
  const expiredBefore = await fill.countExpired(cutoff);
  // Submits alongside the sweep for a bounded window: while requests write, the SQLite sweep takes a
  // small share of the write lock (src/store/sqlite/sweep.ts), so a large one outlasts any window.
  let sweeping = true;
  const during: number[] = [];
  const started = performance.now();
  const submits = (async () => {
    while (sweeping && performance.now() - started < windowMs) during.push(await submitOnce(http));
    const windowSeconds = (performance.now() - started) / 1000;
    return { windowSeconds, expiredLeft: sweeping ? await fill.countExpired(cutoff) : 0 };
  })();
  submits.catch(() => {}); // awaited below; a failure is reported there, not as an unhandled rejection
  const removed = await store.jobs.sweepExpired(cutoff);
  const seconds = (performance.now() - started) / 1000;
  sweeping = false;
  const window = await submits;
  // The submits of this cycle stay queued (role api: no workers), tens of thousands of jobs with
  // their 1 KiB uploads inline: counted in, they grew the file ~60 MB a cycle at 1 M retained. A
  // service would scan them and its sweep remove them a day later; removed here, and their pages
  // given back by the store's own sweep, so the file after a cycle measures the churn alone.
  const ownSubmits = 20 + before.length + during.length;
  await fill.removeRange({ firstSeq: firstOwnSeq, lastSeq: await fill.lastSeq() });
  await store.jobs.sweepExpired(new Date(Date.now() - 24 * HOUR_MS));
  return {
    retained,
    rows: removed.jobs,
    seconds: round(seconds, 2),
    rowsPerSecond: round(removed.jobs / seconds, 0),
    windowSeconds: round(window.windowSeconds, 2),
    rowsPerSecondWhileSubmitting: round((expiredBefore - window.expiredLeft) / window.windowSeconds, 0),
    loadAverage: load,
    submitBefore,
    submitDuring: summarize(during),
    storageBefore,
    storageFilled,
    storageAfter: await fill.storage(),
    ownSubmitsRemoved: ownSubmits,
  };
}

async function measureFairness(store: Store, fill: GrowthStore): Promise<FairnessResult> {
  const queuedJobs = 100_000;
  const claimCost = async (tenants: number) => {
    const range = await fill.addQueued(queuedJobs, tenants, `f${tenants}`);
    const claims = await measureWarmClaims(store, settings.claims);
    await fill.removeRange(range);
    return claims.ms;
  };
  // Once not counted: the first claims of the process start the store's threads and their first
  // checkpoint, which ran 3–5× a steady claim for the first ~600 claims (one tenant's, measured first).
  await claimCost(1);
  const load = loadAverage();
  const oneTenantClaimMs = await claimCost(1);
  const manyTenantsClaimMs = await claimCost(settings.tenants);
  return { queuedJobs, loadAverage: load, oneTenantClaimMs, manyTenantsClaimMs, tenants: settings.tenants };
}

async function timedFill(
  result: DialectResult,
  resetConnections: () => Promise<void>,
  what: string,
  rows: number,
  work: () => Promise<unknown>,
) {
  const started = performance.now();
  await work();
  await resetConnections();
  const seconds = round((performance.now() - started) / 1000, 1);
  result.fillSeconds.push({ what, rows, seconds });
  console.log(`  ${what}: ${rows} rows in ${seconds} s (load ${loadAverage()})`);
}

/** scangate started in this process on a store of its own (a database of its own on PostgreSQL). */
async function startSide(
  dialect: 'sqlite' | 'postgres',
  name: string,
  cleanups: (() => Promise<void>)[],
): Promise<{ side: Side; dataDir: string; databaseUrl: string }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `scangate-growth-${dialect}-${name}-`));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  let databaseUrl = '';
  if (dialect === 'postgres') {
    const database = `scangate_growth_${name}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: args['database-url'] });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const url = new URL(args['database-url']);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
    cleanups.push(async () => {
      const dropper = new pg.Client({ connectionString: args['database-url'] });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await dropper.end();
    });
  }
  // In this process, as one node runs: the API, and the store the bench claims and sweeps on (what
  // the workers and the retention sweeper of a role-all node share). Role api: no local workers, so
  // the queue keeps what the bench filled (on SQLite that role is refused by the config check,
  // which guards deployments of several processes; here there is one).
  const config: Config = {
    ...loadConfig(
      {},
      {
        dataDir,
        logLevel: 'warn',
        signatures: { mode: 'test' },
        http: { host: '127.0.0.1', port: 0 },
        auth: { apiKeys: Object.entries(KEYS).map(([tenant, key]) => `${tenant}=${key}`) },
        store: { databaseUrl },
      },
    ),
    role: 'api',
  };
  const service = await startService(config);
  cleanups.push(() => service.stop());
  const http = new Http(service.url!);
  cleanups.push(() => http.close());
  return { side: { http, store: service.store, own: { ids: [], traceIds: [] } }, dataDir, databaseUrl };
}

/** Measures one dialect into `result` as it goes: a run stopped by the time limit keeps what it has. */
async function runDialect(result: DialectResult, cleanups: (() => Promise<void>)[]): Promise<void> {
  const { dialect } = result;
  const sizes = dialect === 'postgres' ? settings.postgresSizes : settings.sizes;
  const { side: full, dataDir, databaseUrl } = await startSide(dialect, 'full', cleanups);
  const { side: reference } = await startSide(dialect, 'reference', cleanups);
  const { http, store } = full;
  const resetConnections = async () => {
    await http.reset();
    await reference.http.reset();
  };
  let fill: GrowthStore;
  if (dialect === 'sqlite') fill = new SqliteGrowthStore(sqliteStorePath(dataDir));
  else {
    const postgres = new PostgresGrowthStore(databaseUrl, 'public');
    await postgres.open();
    fill = postgres;
  }
  try {
    console.log(`${dialect}: fairness (100k queued, 1 vs ${settings.tenants} tenants)`);
    result.fairness = await measureFairness(store, fill);
    console.log(`  ${JSON.stringify(result.fairness)}`);
    let retained = 0;
    for (const size of sizes) {
      if (size > retained) {
        await timedFill(result, resetConnections, `retained ${retained} → ${size}`, size - retained, () =>
          fill.addRetained(retained, size),
        );
        retained = size;
      }
      result.storage.push({ retained, figures: await fill.storage() });
      console.log(`${dialect} @ ${retained} retained, 0 queued`);
      const idle = await measurePoint(full, reference, retained, 0);
      result.points.push(idle);
      await saveProgress();
      console.log(`  ${JSON.stringify(brief(idle))}`);
      // The first size with results replays more churn: the file must stop growing, not only shrink once.
      // Sweeps run where there are results to keep: the question is what deleting costs beside them.
      const cycles =
        settings.sweepRows === 0 || retained === 0
          ? 0
          : retained === sizes.find((candidate: number) => candidate > 0)
            ? settings.churnCycles
            : 1;
      for (let cycle = 0; cycle < cycles; cycle++) {
        const sweep = await measureSweep(http, store, fill, retained);
        result.sweeps.push(sweep);
        await saveProgress();
        console.log(
          `  sweep: ${sweep.rows} rows in ${sweep.seconds} s (${sweep.rowsPerSecond}/s); submit p99 ${sweep.submitBefore.p99Ms} → ${sweep.submitDuring.p99Ms} ms; bytes ${sweep.storageBefore.bytes} → ${sweep.storageFilled.bytes} → ${sweep.storageAfter.bytes}`,
        );
      }
      if (settings.queued > 0) {
        let range: { firstSeq: number; lastSeq: number } | undefined;
        await timedFill(
          result,
          resetConnections,
          `queued 0 → ${settings.queued}`,
          settings.queued,
          async () => {
            range = await fill.addQueued(settings.queued, settings.tenants, `q${retained}`);
          },
        );
        console.log(`${dialect} @ ${retained} retained, ${settings.queued} queued`);
        const deep = await measurePoint(full, reference, retained, settings.queued);
        result.points.push(deep);
        await saveProgress();
        console.log(`  ${JSON.stringify(brief(deep))}`);
        if (size === sizes.at(-1)) result.explain = await explainAll(fill, retained, settings.queued);
        await timedFill(result, resetConnections, `queued ${settings.queued} → 0`, settings.queued, () =>
          fill.removeRange(range!),
        );
      } else if (size === sizes.at(-1)) {
        result.explain = await explainAll(fill, retained, 0);
      }
    }
  } finally {
    await fill.close();
  }
}

async function explainAll(
  fill: GrowthStore,
  retained: number,
  queued: number,
): Promise<DialectResult['explain']> {
  const plans: { name: string; plan: string[] }[] = [];
  for (const query of hotQueries(fill.dialect, Date.now())) {
    plans.push({ name: query.name, plan: await fill.explain(query.sql, query.values) });
  }
  return { retained, queued, plans };
}

function brief(point: PointResult) {
  return {
    submitP99: point.submit.p99Ms,
    claimsPerSecond: point.claimsPerSecond,
    byId: point.lookupById.p50Ms,
    byTrace: point.lookupByTraceId.p50Ms,
    first: point.listFirstPage.p50Ms,
    deep: point.listDeepPage.p50Ms,
    stats: point.statsBigTenant.p99Ms,
    load: point.loadAverage,
    reference: point.reference && {
      submitP99: point.reference.submit.p99Ms,
      claimsPerSecond: point.reference.claimsPerSecond,
      byId: point.reference.lookupById.p50Ms,
      byTrace: point.reference.lookupByTraceId.p50Ms,
    },
  };
}

async function main(): Promise<void> {
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  const jsonFile = path.resolve(args.out);
  const markdownFile = path.resolve(args.markdown);
  const jsonLink = path.relative(path.dirname(markdownFile), jsonFile);
  if (args['rewrite-markdown']) {
    const report = JSON.parse(await readFile(jsonFile, 'utf8')) as GrowthReport;
    await writeMarkdown(markdownFile, report, jsonLink);
    return;
  }
  const startedAt = new Date();
  const loadAverages = [loadAverage()];
  const report: GrowthReport = {
    command: `npm run bench:growth${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    startedAt: startedAt.toISOString(),
    durationSeconds: 0,
    machine: { ...machineInfo(REPO, 'not used (role api: no scans)'), loadAverages },
    settings,
    dialects: [],
    incidents: [],
  };
  const cleanups: (() => Promise<void>)[] = [];
  saveProgress = async () => {
    report.durationSeconds = round((Date.now() - startedAt.getTime()) / 1000, 0);
    await writeFile(jsonFile, `${formatJson(report)}\n`);
  };
  let stopping = false;
  const stop = (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    console.error(`bench:growth: ${why}; writing what was measured and stopping`);
    report.durationSeconds = round((Date.now() - startedAt.getTime()) / 1000, 0);
    void writeFile(jsonFile, `${formatJson(report)}\n`)
      .then(() => writeMarkdown(markdownFile, report, jsonLink))
      .then(() => Promise.allSettled(cleanups.map((cleanup) => cleanup())))
      .then(() => process.exit(code));
  };
  const limit = setTimeout(
    () => stop(`time limit of ${args['time-limit']} minutes reached`, 2),
    Number(args['time-limit']) * 60_000,
  );
  // A socket error nobody listens for (seen once on the loaded machine: ECONNRESET) is logged in the
  // report instead of ending a run of many minutes.
  process.on('uncaughtException', (error) => {
    console.error('bench:growth: uncaught', error);
    report.incidents.push(`${new Date().toISOString()} uncaught: ${String(error)}`);
  });
  process.once('SIGINT', () => stop('interrupted', 130));
  process.once('SIGTERM', () => stop('terminated', 143));
  limit.unref();
  try {
    for (const dialect of settings.dialects) {
      const own: (() => Promise<void>)[] = [];
      const cleanUp = async () => {
        for (const cleanup of own.splice(0).reverse()) await cleanup().catch((error) => console.error(error));
      };
      cleanups.push(cleanUp);
      const result: DialectResult = { dialect, points: [], sweeps: [], storage: [], fillSeconds: [] };
      report.dialects.push(result);
      try {
        await runDialect(result, own);
      } finally {
        await cleanUp();
      }
      loadAverages.push(loadAverage());
      report.durationSeconds = round((Date.now() - startedAt.getTime()) / 1000, 0);
      report.machine.loadAverageEnd = loadAverage();
      await writeFile(jsonFile, `${formatJson(report)}\n`);
    }
  } finally {
    clearTimeout(limit);
  }
  await writeMarkdown(markdownFile, report, jsonLink);
  console.log(`bench:growth: wrote ${jsonFile} and ${markdownFile}`);
}

async function writeMarkdown(file: string, report: GrowthReport, jsonLink: string): Promise<void> {
  const existing = await readFile(file, 'utf8').catch(() => '');
  await writeFile(file, replaceGrowthSection(existing, renderGrowthMarkdown(report, jsonLink)));
}

await main();

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Payload } from './data.ts';
import type { Mode, SignatureSet } from './options.ts';
import { cpuSeconds } from './processes.ts';
import { rawInstream } from './raw-clamd.ts';
import type { NativeScanView, ScangateClient } from './scangate-client.ts';
import { type LatencySummary, round, roundRate, runConcurrently, summarize } from './stats.ts';

export interface RoundResult {
  /** The database clamd ran on (results written before there were two: the test database). */
  signatures?: SignatureSet;
  mode: Mode;
  size: string;
  fileBytes: number;
  files: number;
  concurrency: number;
  seconds: number;
  filesPerSecond: number;
  /** 10^6 bytes per second. */
  mbPerSecond: number;
  /** raw and sync: request to verdict; async: submit start to the verdict stored (completed_at). */
  latency: LatencySummary;
  /** async only: time to stage and queue one upload. */
  submitLatency?: LatencySummary;
  verdicts: Record<string, number>;
  /** async only: verdicts answered from scangate's verdict cache (should be 0: bytes never repeat). */
  cachedVerdicts?: number;
  /** utime + stime over the round (/proc/<pid>/stat): clamd's, the service process's, the bench's. */
  cpuSeconds: { clamd: number; scangate: number; client: number };
}

export interface RoundContext {
  socketPath: string;
  clamdPid: () => number | undefined;
  scangatePid: number | undefined;
  client: () => ScangateClient;
}

export interface Measured {
  seconds: number;
  latenciesMs: number[];
  verdicts: Record<string, number>;
  submitLatenciesMs?: number[];
  /** async only: each job's lease to its verdict stored (started_at to completed_at). */
  inWorkerMs?: number[];
  cachedVerdicts?: number;
}

function count(verdicts: Record<string, number>, status: string): void {
  verdicts[status] = (verdicts[status] ?? 0) + 1;
}

type StopClock = () => void;

async function measureRaw(
  context: RoundContext,
  payloads: Payload[],
  concurrency: number,
  stopClock: StopClock,
): Promise<Measured> {
  const latenciesMs: number[] = [];
  const verdicts: Record<string, number> = {};
  const started = performance.now();
  await runConcurrently(payloads.length, concurrency, async (index) => {
    const begin = performance.now();
    const reply = await rawInstream(context.socketPath, payloads[index]!);
    latenciesMs.push(performance.now() - begin);
    count(verdicts, reply === 'stream: OK' ? 'clean' : reply);
  });
  stopClock();
  return { seconds: (performance.now() - started) / 1000, latenciesMs, verdicts };
}

async function measureSync(
  context: RoundContext,
  payloads: Payload[],
  concurrency: number,
  stopClock: StopClock,
): Promise<Measured> {
  const client = context.client();
  const latenciesMs: number[] = [];
  const verdicts: Record<string, number> = {};
  const started = performance.now();
  await runConcurrently(payloads.length, concurrency, async (index) => {
    const begin = performance.now();
    const answer = await client.scanSync(payloads[index]!);
    latenciesMs.push(performance.now() - begin);
    count(verdicts, answer.status);
  });
  stopClock();
  return { seconds: (performance.now() - started) / 1000, latenciesMs, verdicts };
}

/** What an async round asks of the service: one client, or one spreading requests over several API processes. */
export type AsyncScanClient = Pick<ScangateClient, 'submitUpload' | 'getScan' | 'listScans'>;

/** Polls one job until its verdict is stored; answers the stored view. */
export async function waitForVerdict(
  client: AsyncScanClient,
  id: string,
  intervalMs = 10,
): Promise<NativeScanView> {
  for (;;) {
    const job = await client.getScan(id);
    if (job.status !== 'pending') return job;
    await sleep(intervalMs);
  }
}

/** Polls until the tenant has no job without a verdict. */
export async function waitUntilNonePending(client: AsyncScanClient, intervalMs = 10): Promise<void> {
  for (;;) {
    const { scans } = await client.listScans({ status: 'pending', limit: 1 });
    if (scans.length === 0) return;
    await sleep(intervalMs);
  }
}

/** Waits until every job of the round has a verdict: the last submitted first, then none pending. */
async function waitForAllDone(client: AsyncScanClient, lastId: string): Promise<void> {
  await waitForVerdict(client, lastId);
  await waitUntilNonePending(client);
}

/** The stored views of the given job ids, read back after the round (newest-first pages, then by id). */
export async function readJobs(
  client: AsyncScanClient,
  ids: Set<string>,
): Promise<Map<string, NativeScanView>> {
  const found = new Map<string, NativeScanView>();
  let before: string | undefined;
  while (found.size < ids.size) {
    const { scans } = await client.listScans({ limit: 500, ...(before ? { before } : {}) });
    if (scans.length === 0) break;
    for (const scan of scans) if (ids.has(scan.id)) found.set(scan.id, scan);
    const oldest = scans.at(-1)!.created_at;
    if (oldest === before) break;
    before = oldest;
  }
  // Jobs created in the same millisecond as a page boundary may be skipped by `before`: ask for them.
  for (const id of ids) if (!found.has(id)) found.set(id, await client.getScan(id));
  return found;
}

/**
 * Async: uploads every file (native multipart upload, staged and queued), then waits until every
 * verdict is stored. The round ends at the last completed_at, as the service recorded it.
 */
export async function measureAsync(
  client: AsyncScanClient,
  payloads: Payload[],
  concurrency: number,
  stopClock: StopClock = () => {},
): Promise<Measured> {
  const submitLatenciesMs: number[] = [];
  const submittedAt = new Map<string, number>();
  const startedAt = Date.now();
  const started = performance.now();
  let lastId = '';
  await runConcurrently(payloads.length, concurrency, async (index) => {
    const wallClock = Date.now();
    const begin = performance.now();
    const job = await client.submitUpload(payloads[index]!);
    submitLatenciesMs.push(performance.now() - begin);
    submittedAt.set(job.id, wallClock);
    lastId = job.id;
  });
  await waitForAllDone(client, lastId);
  stopClock();
  const detectedSeconds = (performance.now() - started) / 1000;
  const jobs = await readJobs(client, new Set(submittedAt.keys()));
  const latenciesMs: number[] = [];
  const inWorkerMs: number[] = [];
  const verdicts: Record<string, number> = {};
  let cachedVerdicts = 0;
  let lastCompletion = startedAt;
  for (const [id, job] of jobs) {
    const completed = Date.parse(job.completed_at ?? '');
    lastCompletion = Math.max(lastCompletion, completed);
    latenciesMs.push(completed - submittedAt.get(id)!);
    if (job.started_at) inWorkerMs.push(completed - Date.parse(job.started_at));
    count(verdicts, job.status);
    if (job.cached) cachedVerdicts++;
  }
  // completed_at has millisecond resolution; never report a round shorter than it was observed to be
  // minus the polling granularity.
  const seconds = Math.max((lastCompletion - startedAt) / 1000, detectedSeconds - 0.05);
  return { seconds, latenciesMs, verdicts, submitLatenciesMs, inWorkerMs, cachedVerdicts };
}

export async function runRound(
  context: RoundContext,
  signatures: SignatureSet,
  mode: Mode,
  size: { name: string; bytes: number },
  payloads: Payload[],
  concurrency: number,
): Promise<RoundResult> {
  const cpuBefore = {
    clamd: cpuSeconds(context.clamdPid()),
    scangate: cpuSeconds(context.scangatePid),
    client: process.cpuUsage(),
  };
  let cpuAfter = { clamd: 0, scangate: 0, client: { user: 0, system: 0 } };
  const stopClock = () => {
    cpuAfter = {
      clamd: cpuSeconds(context.clamdPid()),
      scangate: cpuSeconds(context.scangatePid),
      client: process.cpuUsage(cpuBefore.client),
    };
  };
  const measured =
    mode === 'raw'
      ? await measureRaw(context, payloads, concurrency, stopClock)
      : mode === 'sync'
        ? await measureSync(context, payloads, concurrency, stopClock)
        : await measureAsync(context.client(), payloads, concurrency, stopClock);
  const bytes = payloads.reduce((total, payload) => total + payload.size, 0);
  const result: RoundResult = {
    signatures,
    mode,
    size: size.name,
    fileBytes: size.bytes,
    files: payloads.length,
    concurrency,
    seconds: round(measured.seconds, 3),
    filesPerSecond: roundRate(payloads.length / measured.seconds),
    mbPerSecond: round(bytes / 1e6 / measured.seconds, 2),
    latency: summarize(measured.latenciesMs),
    verdicts: measured.verdicts,
    cpuSeconds: {
      clamd: round(cpuAfter.clamd - cpuBefore.clamd),
      scangate: round(mode === 'raw' ? 0 : cpuAfter.scangate - cpuBefore.scangate),
      client: round((cpuAfter.client.user + cpuAfter.client.system) / 1e6),
    },
  };
  if (measured.submitLatenciesMs) result.submitLatency = summarize(measured.submitLatenciesMs);
  if (measured.cachedVerdicts !== undefined) result.cachedVerdicts = measured.cachedVerdicts;
  return result;
}

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { memoryPayload, RoundStamp } from './data.ts';
import type { FileServer } from './file-server.ts';
import { cpuSeconds } from './processes.ts';
import { waitForVerdict } from './rounds.ts';
import type { ScangateClient } from './scangate-client.ts';
import { type LatencySummary, round, summarize } from './stats.ts';

export type SubmitKind = 'upload' | 'url';

export interface SubmitLatencyResult {
  workers: number;
  submitsPerKind: number;
  /** One client, one submit at a time, no load: the floor. */
  idle: Record<SubmitKind | 'all', LatencySummary>;
  /** The same submits while the backlog keeps every worker busy. */
  saturated: Record<SubmitKind | 'all', LatencySummary>;
  backlog: {
    fileBytes: number;
    /** URL jobs kept outstanding at all times (each loop resubmits when its job has a verdict). */
    outstandingJobs: number;
    jobsCompletedDuringMeasurement: number;
    /** scangate_queue_depth (queued + running jobs), sampled every 250 ms during the measurement. */
    minQueueDepth: number | null;
    /** CPU seconds per wall second during the measurement (this machine's cores bound both). */
    clamdCpuShare: number;
    scangateCpuShare: number;
    /** The queue never fell to the number of workers: every worker had a job throughout. */
    saturated: boolean;
  };
  measurementSeconds: number;
}

export interface SubmitLatencyContext {
  url: string;
  /** A client for the measured submits and one for the backlog loops and their polling. */
  client: ScangateClient;
  backlogClient: ScangateClient;
  files: FileServer;
  smallFile: string;
  backlogFile: string;
  backlogFileBytes: number;
  workers: number;
  scangatePid: number;
  clamdPid: () => number | undefined;
}

/** Times `submitsPerKind` 1 KB uploads and as many URL submits, alternating, one at a time. */
async function timeSubmits(
  context: SubmitLatencyContext,
  submitsPerKind: number,
): Promise<Record<SubmitKind | 'all', LatencySummary>> {
  const latencies: Record<SubmitKind, number[]> = { upload: [], url: [] };
  for (let index = 0; index < submitsPerKind; index++) {
    // Fresh bytes and a fresh stamp: nothing here can be answered from a cache.
    const payload = memoryPayload(randomBytes(1024));
    let begin = performance.now();
    await context.client.submitUpload(payload);
    latencies.upload.push(performance.now() - begin);
    begin = performance.now();
    await context.client.submitUrl(context.files.urlFor(context.smallFile, new RoundStamp()));
    latencies.url.push(performance.now() - begin);
  }
  return {
    upload: summarize(latencies.upload),
    url: summarize(latencies.url),
    all: summarize([...latencies.upload, ...latencies.url]),
  };
}

async function queueDepth(url: string): Promise<number | undefined> {
  const text = await fetch(`${url}/metrics`).then((response) => response.text());
  const match = /^scangate_queue_depth (\S+)$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * Submit latency with the workers saturated: `3 × workers` loops each keep one large URL job
 * (freshly stamped, so clamd really scans it) outstanding, so the queue always holds more jobs than
 * there are workers; meanwhile one client times its submits. The queue depth is sampled to show
 * that the workers were in fact saturated throughout.
 */
export async function measureSubmitLatency(
  context: SubmitLatencyContext,
  submitsPerKind: number,
): Promise<SubmitLatencyResult> {
  const idle = await timeSubmits(context, Math.max(1, Math.round(submitsPerKind / 3)));

  let stopping = false;
  let completed = 0;
  const outstandingJobs = 3 * context.workers;
  const backlogLoop = async () => {
    while (!stopping) {
      const job = await context.backlogClient.submitUrl(
        context.files.urlFor(context.backlogFile, new RoundStamp()),
      );
      await waitForVerdict(context.backlogClient, job.id, 100);
      completed++;
    }
  };
  const loops = Array.from({ length: outstandingJobs }, backlogLoop);
  // Let the workers lease their first jobs and clamd get busy before the clock starts.
  await sleep(1000);

  const depths: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const depth = await queueDepth(context.url);
      if (depth !== undefined && Number.isFinite(depth)) depths.push(depth);
      await sleep(250);
    }
  })();
  const cpuBefore = { clamd: cpuSeconds(context.clamdPid()), scangate: cpuSeconds(context.scangatePid) };
  const completedBefore = completed;
  const started = performance.now();
  const saturated = await timeSubmits(context, submitsPerKind);
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = { clamd: cpuSeconds(context.clamdPid()), scangate: cpuSeconds(context.scangatePid) };
  const completedDuring = completed - completedBefore;
  sampling = false;
  await sampler;
  stopping = true;
  await Promise.all(loops);

  const minQueueDepth = depths.length > 0 ? Math.min(...depths) : null;
  return {
    workers: context.workers,
    submitsPerKind,
    idle,
    saturated,
    backlog: {
      fileBytes: context.backlogFileBytes,
      outstandingJobs,
      jobsCompletedDuringMeasurement: completedDuring,
      minQueueDepth,
      clamdCpuShare: round((cpuAfter.clamd - cpuBefore.clamd) / seconds),
      scangateCpuShare: round((cpuAfter.scangate - cpuBefore.scangate) / seconds),
      saturated: minQueueDepth !== null && minQueueDepth > context.workers,
    },
    measurementSeconds: round(seconds, 3),
  };
}

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { diskPayload, memoryPayload, RoundStamp, writeRandomFile } from './data.ts';
import { MiB } from './options.ts';
import {
  memory,
  resetPeakRss,
  rssBreakdown,
  type ServiceEntry,
  sampleRss,
  startScangate,
} from './processes.ts';
import { waitUntilNonePending } from './rounds.ts';
import type { ScangateClient } from './scangate-client.ts';
import { round, runConcurrently } from './stats.ts';

/** RSS of an idle service, split as the kernel counts it (/proc/<pid>/status). */
export interface IdleRss {
  /** dist: the compiled build, as `npm start` and the image run it; src: the TypeScript sources. */
  entry: ServiceEntry;
  /** The node flags it ran with (the production ones: PRODUCTION_NODE_FLAGS). */
  nodeFlags: string[];
  idleSeconds: number;
  rss: number;
  /** Heap, malloc and V8's code: what the program allocated. */
  rssAnon: number;
  /** Pages of the node binary and libraries that were touched: mostly the same for every program. */
  rssFile: number;
}

export interface UploadMemory {
  uploads: number;
  fileBytes: number;
  /** First upload to the last verdict stored. */
  seconds: number;
  verdicts: Record<string, number>;
  rssBefore: number;
  peakSampled: number;
  /** VmHWM after a reset at the start (null where clear_refs is not permitted). */
  peakHwm: number | null;
}

export interface QueuedMemory {
  jobs: number;
  fileBytes: number;
  rssBefore: number;
  /** With every job queued (clamd paused, so the workers hold their first jobs and nothing completes). */
  rssQueued: number;
  peakHwm: number | null;
  submitSeconds: number;
  drainSeconds: number;
}

export interface MemoryResult {
  idle?: IdleRss[];
  uploads?: UploadMemory;
  queued?: QueuedMemory;
}

/**
 * `SIGNATURES=test scangate serve` as the README's quick start runs it (its own managed clamd, whose
 * memory is not counted), idle for `idleSeconds` after it is ready; the RSS of the node process.
 */
export async function measureIdleRss(
  entry: ServiceEntry,
  nodeFlags: string[],
  dataDir: string,
  idleSeconds: number,
  env: Record<string, string>,
): Promise<IdleRss> {
  const service = await startScangate({ dataDir, env: { ...env, SIGNATURES: 'test' }, entry, nodeFlags });
  try {
    await sleep(idleSeconds * 1000);
    return { entry, nodeFlags, idleSeconds, ...rssBreakdown(service.pid) };
  } finally {
    await service.stop();
  }
}

/** `uploads` async uploads of `fileBytes` at once (fresh bytes each), the service's RSS sampled throughout. */
export async function measureUploadMemory(
  client: ScangateClient,
  pid: number,
  dir: string,
  uploads: number,
  fileBytes: number,
): Promise<UploadMemory> {
  const file = path.join(dir, 'upload.bin');
  await writeRandomFile(file, fileBytes);
  const hwmReset = resetPeakRss(pid);
  const rssBefore = memory(pid).rss;
  const stopSampling = sampleRss(pid, 20);
  const started = performance.now();
  const ids: string[] = [];
  await runConcurrently(uploads, uploads, async () => {
    ids.push((await client.submitUpload(diskPayload(file, fileBytes, new RoundStamp()))).id);
  });
  await waitUntilNonePending(client, 100);
  const seconds = (performance.now() - started) / 1000;
  const sampled = stopSampling();
  const verdicts: Record<string, number> = {};
  for (const id of ids) {
    const { status } = await client.getScan(id);
    verdicts[status] = (verdicts[status] ?? 0) + 1;
  }
  return {
    uploads,
    fileBytes,
    seconds: round(seconds, 3),
    verdicts,
    rssBefore,
    peakSampled: sampled.peakSampledRss,
    peakHwm: hwmReset ? sampled.hwm : null,
  };
}

/**
 * `jobs` 1 KB uploads queued while clamd is paused (SIGSTOP): the workers wait on their first jobs,
 * so the rest stay queued while the RSS is read; then clamd goes on and the queue drains.
 */
export async function measureQueuedMemory(
  client: ScangateClient,
  pid: number,
  clamdPid: number,
  jobs: number,
): Promise<QueuedMemory> {
  const fileBytes = 1024;
  const hwmReset = resetPeakRss(pid);
  const rssBefore = memory(pid).rss;
  process.kill(clamdPid, 'SIGSTOP');
  let drainStarted = 0;
  try {
    const started = performance.now();
    await runConcurrently(jobs, 16, async () => {
      await client.submitUpload(memoryPayload(randomBytes(fileBytes)));
    });
    const submitSeconds = (performance.now() - started) / 1000;
    // Let the garbage of the submits go: the RSS of a queue, not of the requests that filled it.
    await sleep(2000);
    const rssQueued = memory(pid).rss;
    const peakHwm = hwmReset ? memory(pid).hwm : null;
    process.kill(clamdPid, 'SIGCONT');
    drainStarted = performance.now();
    await waitUntilNonePending(client, 100);
    return {
      jobs,
      fileBytes,
      rssBefore,
      rssQueued,
      peakHwm,
      submitSeconds: round(submitSeconds, 3),
      drainSeconds: round((performance.now() - drainStarted) / 1000, 3),
    };
  } finally {
    if (drainStarted === 0) process.kill(clamdPid, 'SIGCONT');
  }
}

export const MEMORY_UPLOAD_BYTES = 100 * MiB;

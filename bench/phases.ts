import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BenchClamd } from './clamd.ts';
import { generateDataSet, loadPayloads, RoundStamp, writeRandomFile } from './data.ts';
import { type DownloadResult, measureDownload } from './download.ts';
import type { FileServer } from './file-server.ts';
import {
  MEMORY_UPLOAD_BYTES,
  type MemoryResult,
  measureIdleRss,
  measureQueuedMemory,
  measureUploadMemory,
} from './memory.ts';
import { type BenchOptions, MiB, type SignatureSet, type SizeClass } from './options.ts';
import {
  inspectorThroughput,
  measurePolicyRun,
  POLICY_CONCURRENCY,
  type PolicyResult,
  type PolicyRun,
  policyPayloads,
  policyRatios,
} from './policy.ts';
import {
  memory,
  PRODUCTION_NODE_FLAGS,
  type ScangateProcess,
  startScangate,
  waitUntilReady,
} from './processes.ts';
import { type RoundResult, runRound, waitUntilNonePending } from './rounds.ts';
import { ScangateClient } from './scangate-client.ts';
import { measureSubmitLatency, type SubmitLatencyResult } from './submit-latency.ts';
import { cpuPerThousand, ratioToRaw } from './targets.ts';
import {
  type CacheResult,
  type CacheRun,
  cacheGains,
  measureCacheRun,
  repeatWorkload,
} from './verdict-cache.ts';

/** Each backlog job of the submit-latency phase: large enough to keep a worker busy for a while. */
export const BACKLOG_FILE_BYTES = 32 * MiB;
const CACHE_CONCURRENCY = 4;

/** What every phase shares: the options, the temp dir, clamd, the file server and the running service. */
export interface Bench {
  options: BenchOptions;
  tempDir: string;
  dataRoot: string;
  clamd: BenchClamd;
  files: FileServer;
  apiKey: string;
  maxFileSizeBytes: number;
  scangate: ScangateProcess;
  log(message: string): void;
}

export function scangateEnv(bench: Omit<Bench, 'scangate'>, verdictCache: boolean): Record<string, string> {
  return {
    API_KEYS: `bench=${bench.apiKey}`,
    CLAMD_ADDRESS: bench.clamd.socketPath,
    // The bench's clamd runs on the offline test database; say so.
    SIGNATURES: 'test',
    MAX_FILE_SIZE: String(bench.maxFileSizeBytes),
    WORKER_CONCURRENCY: String(bench.options.workerConcurrency),
    // The bench's file server listens on loopback, which the SSRF policy refuses by default.
    NETWORK_ALLOW_CIDRS: '127.0.0.0/8',
    SCAN_TIMEOUT_MS: '600000',
    VERDICT_CACHE: String(verdictCache),
    LOG_LEVEL: bench.options.logLevel,
    ...(bench.options.serviceNodeOptions ? { NODE_OPTIONS: bench.options.serviceNodeOptions } : {}),
  };
}

export async function startBenchScangate(
  bench: Omit<Bench, 'scangate'>,
  name: string,
  verdictCache: boolean,
): Promise<ScangateProcess> {
  return startScangate({
    dataDir: path.join(bench.tempDir, `scangate-${name}`),
    env: scangateEnv(bench, verdictCache),
    cpuProfileDir: bench.options.cpuProfileDir,
  });
}

/** Stops the running service and starts another on the same clamd (a fresh process, its own data dir). */
export async function replaceScangate(bench: Bench, name: string, verdictCache: boolean): Promise<void> {
  await bench.scangate.stop();
  bench.scangate = await startBenchScangate(bench, name, verdictCache);
  bench.log(`scangate ${name} at ${bench.scangate.url} (pid ${bench.scangate.pid})`);
}

/** A fresh clamd process (empty MD5 cache) and a service that has seen it answer. */
async function freshClamd(bench: Bench): Promise<void> {
  await bench.clamd.restart();
  await waitUntilReady(bench.scangate.url);
}

async function withClient<T>(bench: Bench, connections: number, use: (client: ScangateClient) => Promise<T>) {
  const client = new ScangateClient(bench.scangate.url, bench.apiKey, connections);
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

function describeRound(result: RoundResult, rounds: RoundResult[]): string {
  const ratio = result.mode === 'raw' ? '' : `, ${ratioToRaw(result, rounds) ?? '?'}× raw`;
  const cpu =
    `CPU s/1000 files clamd ${cpuPerThousand(result.cpuSeconds.clamd, result.files)}` +
    (result.mode === 'raw' ? '' : ` scangate ${cpuPerThousand(result.cpuSeconds.scangate, result.files)}`);
  const verdicts = Object.entries(result.verdicts)
    .map(([status, count]) => `${count} ${status}`)
    .join(', ');
  return (
    `${result.signatures} ${result.mode} ${result.size} c${result.concurrency}: ${result.filesPerSecond} files/s, ${result.mbPerSecond} MB/s, ` +
    `p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms${ratio}; ${cpu} (${verdicts})`
  );
}

/**
 * raw, sync and async side by side for every size and concurrency. On the test database each round
 * runs on a fresh clamd; the full one takes ~16 s to load and stays (every round's bytes are new).
 */
export async function runMatrix(
  bench: Bench,
  signatures: SignatureSet,
  sizes: SizeClass[],
): Promise<RoundResult[]> {
  const rounds: RoundResult[] = [];
  for (const size of sizes) {
    bench.log(`writing ${size.count} random files of ${size.name}`);
    const data = await generateDataSet(path.join(bench.dataRoot, 'matrix'), size);
    for (const concurrency of bench.options.concurrency) {
      for (const mode of bench.options.modes) {
        if (signatures === 'test') await freshClamd(bench);
        const payloads = await loadPayloads(data, new RoundStamp());
        const result = await withClient(bench, concurrency, (client) =>
          runRound(
            {
              socketPath: bench.clamd.socketPath,
              clamdPid: () => bench.clamd.pid,
              scangatePid: bench.scangate.pid,
              client: () => client,
            },
            signatures,
            mode,
            size,
            payloads,
            concurrency,
          ),
        );
        rounds.push(result);
        bench.log(describeRound(result, rounds));
      }
    }
    await rm(path.join(bench.dataRoot, 'matrix', size.name), { recursive: true, force: true });
  }
  return rounds;
}

/**
 * On a service started for it: the RSS of a process that has just run thousands of scans mostly
 * reflects how far V8 let its heap grow, not what one download costs. That RSS is reported too.
 */
export async function runDownload(bench: Bench): Promise<DownloadResult> {
  const bytes = bench.options.downloadBytes;
  const previousServiceRss = memory(bench.scangate.pid).rss;
  await replaceScangate(bench, 'download', true);
  const dir = path.join(bench.dataRoot, 'download');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'download.bin');
  bench.log(`writing the ${Math.round(bytes / MiB)} MiB download file`);
  await writeRandomFile(file, bytes);
  await freshClamd(bench);
  const result = await withClient(bench, 2, (client) =>
    measureDownload(
      {
        client,
        files: bench.files,
        socketPath: bench.clamd.socketPath,
        scangatePid: bench.scangate.pid,
        clamdPid: bench.clamd.pid,
      },
      file,
      bytes,
    ),
  );
  const peak = Math.max(result.scangateRss.peakSampled, result.scangateRss.peakHwm ?? 0);
  bench.log(
    `download ${Math.round(bytes / MiB)} MiB: ${result.status} in ${result.seconds} s (${result.mbPerSecond} MB/s; ` +
      `raw clamd ${result.raw.seconds} s), scangate peak RSS ${Math.round(peak / MiB)} MiB`,
  );
  await rm(dir, { recursive: true, force: true });
  return { ...result, previousServiceRss };
}

export async function runSubmitLatency(bench: Bench): Promise<SubmitLatencyResult> {
  const dir = path.join(bench.dataRoot, 'latency');
  await mkdir(dir, { recursive: true });
  const smallFile = path.join(dir, 'small.bin');
  const backlogFile = path.join(dir, 'backlog.bin');
  await writeRandomFile(smallFile, 1024);
  await writeRandomFile(backlogFile, BACKLOG_FILE_BYTES);
  await freshClamd(bench);
  const workers = bench.options.workerConcurrency;
  const result = await withClient(bench, 1, (client) =>
    withClient(bench, 3 * workers, (backlogClient) =>
      measureSubmitLatency(
        {
          url: bench.scangate.url,
          client,
          backlogClient,
          files: bench.files,
          smallFile,
          backlogFile,
          backlogFileBytes: BACKLOG_FILE_BYTES,
          workers,
          scangatePid: bench.scangate.pid,
          clamdPid: () => bench.clamd.pid,
        },
        bench.options.latencySubmits,
      ),
    ),
  );
  bench.log(
    `submit latency: idle p99 ${result.idle.all.p99Ms} ms; saturated p99 ${result.saturated.all.p99Ms} ms ` +
      `(upload ${result.saturated.upload.p99Ms}, URL ${result.saturated.url.p99Ms}); min queue depth ` +
      `${result.backlog.minQueueDepth}; draining the measured jobs`,
  );
  // The measured submits queued behind the backlog: let them finish before the next phase.
  await withClient(bench, 1, (client) => waitUntilNonePending(client, 100));
  await rm(dir, { recursive: true, force: true });
  return result;
}

/**
 * The content policy's cost: sync scans of the same 100 KB files, binary and text, under the default
 * policy and with every switch on (every type allowed, so the verdicts stay clean and both rounds do
 * the same work), each on bytes never seen before; and the inspection alone, in this process.
 */
export async function runPolicy(bench: Bench): Promise<PolicyResult> {
  const fileBytes = 100 * 1024;
  const runs: PolicyRun[] = [];
  for (const content of ['binary', 'text'] as const) {
    for (const policy of ['default', 'all switches on'] as const) {
      // Bytes never scanned before in each run: no cache of clamd's or scangate's answers them, so
      // clamd need not be restarted between runs.
      const payloads = policyPayloads(content, bench.options.policyFiles, fileBytes);
      const run = await withClient(bench, POLICY_CONCURRENCY, (client) =>
        measurePolicyRun(client, content, policy, payloads),
      );
      runs.push(run);
      bench.log(`policy ${content} ${policy}: ${run.filesPerSecond} files/s, p99 ${run.latency.p99Ms} ms`);
    }
  }
  const inspectorMBps = {
    binary: await inspectorThroughput('binary'),
    text: await inspectorThroughput('text'),
  };
  bench.log(`content inspection alone: ${inspectorMBps.binary} MB/s binary, ${inspectorMBps.text} MB/s text`);
  return {
    fileBytes,
    files: bench.options.policyFiles,
    concurrency: POLICY_CONCURRENCY,
    runs,
    ratio: policyRatios(runs),
    inspectorMBps,
  };
}

/**
 * The verdict cache on a 50 % repeat workload, against the same number of distinct files and
 * against the same workload with VERDICT_CACHE=false (a second service on the same clamd). Replaces
 * bench.scangate with the cache-off service, so this is the last phase.
 */
export async function runVerdictCache(bench: Bench): Promise<CacheResult> {
  const size = { name: 'cache', bytes: bench.options.cacheFileBytes, count: bench.options.cacheFiles };
  const data = await generateDataSet(path.join(bench.dataRoot, 'cache'), size);
  // A repeat trails its original by more jobs than there are workers, so the original's verdict is
  // usually stored before the repeat is leased.
  const distance = 4 * bench.options.workerConcurrency;
  const repeatPayloads = async () => {
    const all = await loadPayloads(data, new RoundStamp());
    return repeatWorkload(all.slice(0, Math.max(1, Math.floor(all.length / 2))), distance);
  };
  const runs: CacheRun[] = [];
  const measure = async (label: CacheRun['label'], payloads: Awaited<ReturnType<typeof repeatPayloads>>) => {
    await freshClamd(bench);
    const run = await withClient(bench, CACHE_CONCURRENCY, (client) =>
      measureCacheRun(label, client, payloads, CACHE_CONCURRENCY),
    );
    runs.push(run);
    bench.log(
      `cache ${label}: ${run.files} files (${run.distinctFiles} distinct), ${run.filesPerSecond} files/s, ` +
        `${run.cachedVerdicts} answered from the cache`,
    );
  };
  await measure('unique', await loadPayloads(data, new RoundStamp()));
  await measure('repeat-cache-on', await repeatPayloads());

  await replaceScangate(bench, 'cache-off', false);
  await measure('repeat-cache-off', await repeatPayloads());
  await rm(path.join(bench.dataRoot, 'cache'), { recursive: true, force: true });
  return {
    fileBytes: size.bytes,
    files: runs[1]!.files,
    concurrency: CACHE_CONCURRENCY,
    repeatFraction: 0.5,
    runs,
    ...cacheGains(runs),
  };
}

/**
 * The service's memory under load, on a service started for it: 16 (--memory-uploads) concurrent
 * 100 MB uploads until their verdicts, then 1,000 (--queued-jobs) jobs queued behind a paused clamd.
 */
export async function runMemory(bench: Bench): Promise<MemoryResult> {
  const result: MemoryResult = {};
  const { memoryUploads, queuedJobs } = bench.options;
  if (memoryUploads === 0 && queuedJobs === 0) return result;
  await replaceScangate(bench, 'memory', true);
  await freshClamd(bench);
  if (memoryUploads > 0) {
    const dir = path.join(bench.dataRoot, 'memory');
    await mkdir(dir, { recursive: true });
    result.uploads = await withClient(bench, memoryUploads, (client) =>
      measureUploadMemory(client, bench.scangate.pid, dir, memoryUploads, MEMORY_UPLOAD_BYTES),
    );
    await rm(dir, { recursive: true, force: true });
    const uploads = result.uploads;
    bench.log(
      `memory: ${uploads.uploads} concurrent uploads of ${Math.round(uploads.fileBytes / MiB)} MiB in ${uploads.seconds} s, ` +
        `RSS ${Math.round(uploads.rssBefore / MiB)} → peak ${Math.round(Math.max(uploads.peakSampled, uploads.peakHwm ?? 0) / MiB)} MiB`,
    );
  }
  if (queuedJobs > 0) {
    const clamdPid = bench.clamd.pid;
    if (clamdPid === undefined) throw new Error('the bench clamd is not running');
    result.queued = await withClient(bench, 16, (client) =>
      measureQueuedMemory(client, bench.scangate.pid, clamdPid, queuedJobs),
    );
    const queued = result.queued;
    bench.log(
      `memory: ${queued.jobs} queued jobs, RSS ${Math.round(queued.rssBefore / MiB)} → ${Math.round(queued.rssQueued / MiB)} MiB ` +
        `(drained in ${queued.drainSeconds} s)`,
    );
  }
  return result;
}

/**
 * Idle RSS of `SIGNATURES=test scangate serve` with its own managed clamd (not counted), step by
 * step: the TypeScript sources (type stripping), the build, the build with the production node flags.
 */
export async function runIdleRss(bench: Bench): Promise<MemoryResult['idle']> {
  const idle: NonNullable<MemoryResult['idle']> = [];
  const variants = [
    { entry: 'src', nodeFlags: [] },
    { entry: 'dist', nodeFlags: [] },
    { entry: 'dist', nodeFlags: PRODUCTION_NODE_FLAGS },
  ] as const;
  for (const [index, { entry, nodeFlags }] of variants.entries()) {
    const measured = await measureIdleRss(
      entry,
      [...nodeFlags],
      path.join(bench.tempDir, `scangate-idle-${index}`),
      bench.options.idleSeconds,
      {
        API_KEYS: `bench=${bench.apiKey}`,
        LOG_LEVEL: bench.options.logLevel,
        ...(bench.options.serviceNodeOptions ? { NODE_OPTIONS: bench.options.serviceNodeOptions } : {}),
      },
    );
    idle.push(measured);
    bench.log(
      `idle RSS (${[entry, ...nodeFlags].join(' ')}): ${Math.round(measured.rss / MiB)} MiB (anonymous ${Math.round(measured.rssAnon / MiB)}, ` +
        `file-backed ${Math.round(measured.rssFile / MiB)}) after ${measured.idleSeconds} s`,
    );
  }
  return idle;
}

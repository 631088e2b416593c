#!/usr/bin/env node
/**
 * `npm run bench`: starts its own clamd and scangate (the compiled build) on loopback in a temp dir,
 * measures raw clamd INSTREAM against scangate's sync and async APIs on the offline test database and
 * on a synthetic full-size one, a large URL download with the service's RSS, submit latency with the
 * workers saturated, the service's memory (idle, 16 large uploads, 1,000 queued jobs), the content
 * policy and the verdict cache on a 50 % repeat workload; writes the results JSON and the generated
 * part of BENCHMARKS.md. `npm run bench -- --help` lists the options.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLAMD_MAX_FILE_SIZE } from '../src/config.ts';
import { BenchClamd } from './clamd.ts';
import { memoryPayload } from './data.ts';
import { startFileServer } from './file-server.ts';
import { spliceReport } from './markdown.ts';
import { MEMORY_UPLOAD_BYTES, type MemoryResult } from './memory.ts';
import { type BenchOptions, MiB, parseOptions, USAGE } from './options.ts';
import {
  BACKLOG_FILE_BYTES,
  type Bench,
  runDownload,
  runIdleRss,
  runMatrix,
  runMemory,
  runPolicy,
  runSubmitLatency,
  runVerdictCache,
  startBenchScangate,
} from './phases.ts';
import { buildService } from './processes.ts';
import { rawInstream } from './raw-clamd.ts';
import { type BenchReport, formatJson, machineInfo } from './report.ts';
import type { RoundResult } from './rounds.ts';
import { checkPostgres, runScaleout } from './scaleout.ts';
import { syntheticDatabase } from './signatures.ts';
import { runConcurrently } from './stats.ts';
import { evaluateTargets } from './targets.ts';

const REPO = path.resolve(import.meta.dirname, '..');

function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** What the run started, stopped in reverse order once: at the end, on an error, on a signal, on the time limit. */
class Teardown {
  readonly #steps: { name: string; run: () => Promise<void> }[] = [];

  add(name: string, run: () => Promise<void>): void {
    this.#steps.push({ name, run });
  }

  #running: Promise<void> | undefined;

  /** Every caller (the signal handler and the main flow's finally) waits for the same, complete teardown. */
  run(): Promise<void> {
    this.#running ??= this.#runSteps();
    return this.#running;
  }

  async #runSteps(): Promise<void> {
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      try {
        await step.run();
      } catch (error) {
        // Keep stopping the rest: one failed step must not leave the others running.
        log(`could not stop ${step.name}: ${(error as Error).message}`);
      }
    }
  }
}

/** The service must accept the largest file of the run, and clamd the same (it gets the same limit). */
function maxFileSizeFor(options: BenchOptions): number {
  const largest = Math.max(
    options.downloadBytes,
    BACKLOG_FILE_BYTES,
    options.memoryUploads > 0 ? MEMORY_UPLOAD_BYTES : 0,
    ...options.sizes.map((size) => size.bytes),
  );
  return Math.min(CLAMD_MAX_FILE_SIZE, largest + MiB);
}

async function runBench(options: BenchOptions, teardown: Teardown, onService: (bench: Bench) => void) {
  const startedAt = new Date();
  await mkdir(options.tempRoot || os.tmpdir(), { recursive: true });
  const tempDir = await mkdtemp(path.join(options.tempRoot || os.tmpdir(), 'scangate-bench-'));
  teardown.add('the temp dir', () => rm(tempDir, { recursive: true, force: true }));
  log(`temp dir ${tempDir}`);
  const dataRoot = path.join(tempDir, 'data');
  await mkdir(dataRoot, { recursive: true });
  const maxFileSizeBytes = maxFileSizeFor(options);
  // Before anything runs: the scale-out phase comes late, and needs a PostgreSQL server.
  if (options.scaleoutFiles > 0) await checkPostgres(options.postgresUrl);
  // Before anything starts: generating the full database takes a minute the first time.
  const fullDatabase = options.signatures.includes('full')
    ? await syntheticDatabase(options.sigdbGenerator, options.cacheDir, log)
    : undefined;
  buildService();

  const clamd = new BenchClamd({
    dir: path.join(tempDir, 'bench-clamd'),
    maxFileSizeBytes,
    maxThreads: options.clamdThreads,
  });
  teardown.add('clamd', () => clamd.stop());
  await clamd.start();
  const machine = machineInfo(REPO, await clamd.version());
  log(`${machine.clamd}; ${machine.cpus} CPUs, load average ${machine.loadAverageStart}`);
  const files = await startFileServer(dataRoot);
  teardown.add('the file server', () => files.close());

  const partial = {
    tempDir,
    dataRoot,
    clamd,
    files,
    apiKey: `bench-${randomBytes(16).toString('hex')}`,
    maxFileSizeBytes,
  };
  const bench: Bench = {
    ...partial,
    options,
    log,
    scangate: await startBenchScangate({ ...partial, options, log }, 'main', true),
  };
  teardown.add('scangate', () => bench.scangate.stop());
  onService(bench);
  log(`scangate at ${bench.scangate.url} (pid ${bench.scangate.pid})`);

  const rounds: RoundResult[] = [];
  if (options.signatures.includes('test')) rounds.push(...(await runMatrix(bench, 'test', options.sizes)));
  const submitLatency = options.latencySubmits > 0 ? await runSubmitLatency(bench) : undefined;
  // From here on the phases run on services started for them (see runDownload).
  const download = options.downloadBytes > 0 ? await runDownload(bench) : undefined;
  const memory: MemoryResult = await runMemory(bench);
  // Before the cache phase, which replaces the service with a cache-off one.
  const policy = options.policyFiles > 0 ? await runPolicy(bench) : undefined;
  const verdictCache = options.cacheFiles > 0 ? await runVerdictCache(bench) : undefined;
  await bench.scangate.stop();
  if (options.idleSeconds > 0) {
    const idle = await runIdleRss(bench);
    if (idle) memory.idle = idle;
  }
  // On the test database's clamd, before the full matrix replaces it.
  const scaleout = options.scaleoutFiles > 0 ? await runScaleout(bench, teardown) : undefined;
  if (fullDatabase) rounds.push(...(await runFullMatrix(bench, fullDatabase, teardown)));

  machine.loadAverageEnd = os.loadavg()[0]!;
  const finishedAt = new Date();
  const report: BenchReport = {
    command: options.command,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    machine,
    settings: {
      workerConcurrency: options.workerConcurrency,
      clamdMaxThreads: options.clamdThreads,
      maxFileSizeBytes,
      sizes: options.sizes,
      fullSizes: options.fullSizes,
      signatures: options.signatures,
      concurrency: options.concurrency,
      modes: options.modes,
    },
    rounds,
    targets: evaluateTargets({ rounds, download, submitLatency, memory, scaleout }),
  };
  if (download) report.download = download;
  if (Object.keys(memory).length > 0) report.memory = memory;
  if (submitLatency) report.submitLatency = submitLatency;
  if (verdictCache) report.verdictCache = verdictCache;
  if (policy) report.policy = policy;
  if (scaleout) report.scaleout = scaleout;
  return report;
}

/**
 * The matrix on the synthetic full-size database: a clamd of its own (~1 GiB, ~16 s to load) and a
 * service on it, both stopped afterwards; the test database's clamd is stopped meanwhile.
 */
/** Raw scans of 100 KB files on the full database before its first round. */
const FULL_WARMUP_SCANS = 200;

async function runFullMatrix(bench: Bench, database: string, teardown: Teardown): Promise<RoundResult[]> {
  await bench.clamd.stop();
  const clamd = new BenchClamd({
    dir: path.join(bench.tempDir, 'bench-clamd-full'),
    maxFileSizeBytes: bench.maxFileSizeBytes,
    maxThreads: bench.options.clamdThreads,
    extraDatabase: database,
  });
  teardown.add('clamd (full database)', () => clamd.stop());
  log('starting clamd on the full database');
  const loadStarted = Date.now();
  await clamd.start();
  log(`clamd loaded the full database in ${Math.round((Date.now() - loadStarted) / 1000)} s`);
  // The first scans after the load fault in the engine's pages (~1 GiB): not part of any round.
  const warmupStarted = Date.now();
  await runConcurrently(FULL_WARMUP_SCANS, 4, async () => {
    await rawInstream(clamd.socketPath, memoryPayload(randomBytes(100 * 1024)));
  });
  log(`warm-up: ${FULL_WARMUP_SCANS} raw scans in ${Math.round((Date.now() - warmupStarted) / 1000)} s`);
  const partial = { ...bench, clamd };
  const full: Bench = { ...partial, scangate: await startBenchScangate(partial, 'full', true) };
  teardown.add('scangate (full database)', () => full.scangate.stop());
  try {
    return await runMatrix(full, 'full', bench.options.fullSizes);
  } finally {
    await full.scangate.stop();
    await clamd.stop();
  }
}

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv, REPO);
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (options.rewriteMarkdown) {
    const report = JSON.parse(await readFile(options.out, 'utf8')) as BenchReport;
    // Judged again: the rules may have been corrected since the run (the measurements are not touched).
    report.targets = evaluateTargets(report);
    await writeReport(report, options.out, options.markdown);
    log(
      `rewrote ${path.relative(process.cwd(), options.markdown)} from ${path.relative(process.cwd(), options.out)}`,
    );
    return 0;
  }
  const teardown = new Teardown();
  let bench: Bench | undefined;
  // Last resort if the process ends without the teardown (it cannot wait here): no service left behind.
  // The bench's clamd is a ManagedClamd, which takes its clamd along on exit by itself.
  process.once('exit', () => bench?.scangate.killNow());
  const abandon = (reason: string, code: number) => {
    log(`${reason}: stopping everything this run started`);
    void teardown.run().finally(() => process.exit(code));
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => abandon(signal, 130));
  const watchdog = setTimeout(
    () => abandon(`time limit of ${options.timeLimitMs / 60_000} min reached`, 1),
    options.timeLimitMs,
  );
  try {
    const report = await runBench(options, teardown, (started) => {
      bench = started;
    });
    await writeReport(report, options.out, options.markdown);
    for (const target of report.targets)
      log(
        `${target.held === null ? 'not judged' : target.held ? 'held' : 'MISSED'}: ${target.target}: ${target.measured}`,
      );
    log(
      `wrote ${path.relative(process.cwd(), options.out)} and ${path.relative(process.cwd(), options.markdown)}`,
    );
    return 0;
  } finally {
    clearTimeout(watchdog);
    await teardown.run();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

/** Writes the JSON report and splices its summary into the markdown file. */
export async function writeReport(
  report: BenchReport,
  jsonFile: string,
  markdownFile: string,
): Promise<void> {
  await mkdir(path.dirname(jsonFile), { recursive: true });
  await writeFile(jsonFile, `${formatJson(report)}\n`);
  const existing = await readFile(markdownFile, 'utf8').catch(() => undefined);
  await mkdir(path.dirname(markdownFile), { recursive: true });
  await writeFile(
    markdownFile,
    spliceReport(existing, report, path.relative(path.dirname(markdownFile), jsonFile)),
  );
}

import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, silentLogger } from '../logger.ts';
import { type FreshclamConfOptions, renderFreshclamConf } from './freshclam-conf.ts';

export interface FreshclamRun {
  /** freshclam's exit code (0 also when everything was already up to date), or null when killed. */
  exitCode: number | null;
  ok: boolean;
  /** freshclam's last output lines: what it downloaded, or why it failed. */
  output: string[];
  startedAt: Date;
  durationMs: number;
}

export interface ManagedFreshclamOptions extends FreshclamConfOptions {
  freshclamBinary: string;
  /** Holds freshclam.conf. */
  dir: string;
  intervalMs: number;
  /** First retry after a failed run; doubles up to intervalMs. */
  retryDelayMs?: number;
  /** Longest single run (a first download of the official database is ~300 MB). */
  runTimeoutMs?: number;
  logger?: Logger | undefined;
}

const OUTPUT_LINES_KEPT = 20;

/**
 * freshclam run by scangate: one `freshclam` process per interval (not its daemon mode), so every
 * run has an exit code and its output, and scangate decides what follows (a clamd RELOAD).
 */
export class ManagedFreshclam {
  readonly confPath: string;
  readonly #options: ManagedFreshclamOptions;
  readonly #logger: Logger;
  readonly #stopped = new AbortController();
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #running: Promise<FreshclamRun> | undefined;

  constructor(options: ManagedFreshclamOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.confPath = path.join(options.dir, 'freshclam.conf');
  }

  async writeConf(): Promise<void> {
    await mkdir(this.#options.dir, { recursive: true });
    await mkdir(this.#options.databaseDirectory, { recursive: true });
    await writeFile(this.confPath, renderFreshclamConf(this.#options));
  }

  /** Runs freshclam now, then every interval (sooner after a failure); `onRun` sees every run. */
  start(onRun: (run: FreshclamRun) => Promise<void>): void {
    this.#loop ??= this.#runLoop(onRun);
  }

  /** Starts the next run now instead of at the end of the interval. */
  runSoon(): void {
    this.#wake?.();
  }

  async #runLoop(onRun: (run: FreshclamRun) => Promise<void>): Promise<void> {
    const retryBase = this.#options.retryDelayMs ?? 60_000;
    let retryDelay = retryBase;
    while (!this.#stopped.signal.aborted) {
      const run = await this.run();
      if (this.#stopped.signal.aborted) return;
      await onRun(run).catch((error: unknown) =>
        this.#logger.error({ err: (error as Error).message }, 'handling a freshclam run failed'),
      );
      const pause = run.ok ? this.#options.intervalMs : Math.min(retryDelay, this.#options.intervalMs);
      retryDelay = run.ok ? retryBase : Math.min(retryDelay * 2, this.#options.intervalMs);
      const woken = new AbortController();
      this.#wake = () => woken.abort();
      try {
        await sleep(pause, undefined, { signal: AbortSignal.any([this.#stopped.signal, woken.signal]) });
      } catch {
        // woken early, or stopped
      }
    }
  }

  /** One freshclam run (concurrent callers share it). */
  run(): Promise<FreshclamRun> {
    this.#running ??= this.#runOnce().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #runOnce(): Promise<FreshclamRun> {
    await this.writeConf();
    const startedAt = new Date();
    const output: string[] = [];
    const child = spawn(this.#options.freshclamBinary, [`--config-file=${this.confPath}`, '--stdout'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: this.#stopped.signal,
      timeout: this.#options.runTimeoutMs ?? 30 * 60_000,
    });
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        const text = line.trim();
        if (!text || /^ClamAV update process started/.test(text)) continue;
        output.push(text);
        if (output.length > OUTPUT_LINES_KEPT) output.shift();
        this.#logger.debug({ freshclam: text }, 'freshclam');
      }
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exitCode = await new Promise<number | null>((resolve) => {
      child.once('error', (error) => {
        if (!this.#stopped.signal.aborted)
          output.push(`cannot run ${this.#options.freshclamBinary}: ${error.message}`);
        resolve(null);
      });
      child.once('close', (code) => resolve(code));
    });
    return { exitCode, ok: exitCode === 0, output, startedAt, durationMs: Date.now() - startedAt.getTime() };
  }

  /** Stops the loop and kills a running freshclam (it downloads to a temp dir, so nothing half-written stays). */
  async stop(): Promise<void> {
    this.#stopped.abort();
    this.#wake?.();
    await this.#loop;
  }
}

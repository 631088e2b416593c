import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { messageOf } from '../../errors.ts';
import { type Logger, silentLogger } from '../../logger.ts';
import { type ClamdConfOptions, clamdPaths, renderClamdConf } from './conf.ts';
import { clamdCommand } from './connection.ts';
import { stopLeftoverClamd } from './leftover.ts';

export interface ManagedClamdOptions extends ClamdConfOptions {
  clamdBinary: string;
  logger?: Logger | undefined;
  /** Start clamd again when it dies (default true). */
  restart?: boolean;
  /** Longest wait for clamd to load its database and answer PING (a large database takes minutes). */
  startTimeoutMs?: number;
  /** How long clamd gets to exit after SIGTERM before SIGKILL. */
  stopGraceMs?: number;
  restartDelay?: { initialMs: number; maxMs: number };
  /**
   * Nice value for clamd (default 0). Above 0 the API answers first when scans saturate the CPU;
   * clamd's scanner threads inherit it, as they are created after the database is loaded.
   */
  niceness?: number;
}

type ManagedClamdEvents = {
  /** clamd answers PING (after the first start and after every restart). */
  ready: [pid: number];
  /** clamd died without being asked to stop. */
  exit: [code: number | null, signal: NodeJS.Signals | null];
  /** clamd started reading its database directory again (a RELOAD, or its own SelfCheck). */
  reloading: [];
  /** The newly loaded database is active: scans from now on use it. */
  reloaded: [];
  /** The new database failed to load; clamd keeps scanning with the previous one. */
  'reload-failed': [reason: string];
};

/** A run longer than this resets the restart delay: the crash was not a crash loop. */
const STABLE_RUN_MS = 60_000;
const OUTPUT_LINES_KEPT = 30;

/**
 * A clamd that scangate starts, supervises and stops itself, listening on a unix socket in its
 * data directory. Used when no clamd address is configured (the embedded default).
 */
export class ManagedClamd extends EventEmitter<ManagedClamdEvents> {
  readonly socketPath: string;
  readonly confPath: string;
  readonly #options: ManagedClamdOptions;
  readonly #logger: Logger;
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> = Promise.resolve();
  #launchedAt = 0;
  #stopping = false;
  #restartDelayMs: number;
  readonly #stopRestarts = new AbortController();
  readonly #output: string[] = [];
  /** clamd says why a reload failed one line before it says that it failed. */
  #reloadError: string | undefined;

  constructor(options: ManagedClamdOptions) {
    super();
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    const paths = clamdPaths(options.dir);
    this.socketPath = paths.socket;
    this.confPath = paths.conf;
    this.#restartDelayMs = options.restartDelay?.initialMs ?? 250;
  }

  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }

  /** Writes clamd.conf, starts clamd and waits until it answers PING. Rejects if it cannot start. */
  async start(): Promise<void> {
    const paths = clamdPaths(this.#options.dir);
    await mkdir(this.#options.dir, { recursive: true });
    await stopLeftoverClamd(paths.pid, this.confPath, this.#logger);
    await writeFile(this.confPath, renderClamdConf(this.#options));
    await this.#launch();
  }

  async #launch(): Promise<void> {
    // Spooled streams and extracted members of a clamd that died are garbage now (and may be GBs).
    const { tmp } = clamdPaths(this.#options.dir);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    // Niceness is per thread on Linux and threads inherit it when created: set after spawn, it
    // missed the threads clamd had already started. `nice` (coreutils) sets it before clamd runs.
    const clamdCommand = [this.#options.clamdBinary, '--config-file', this.confPath];
    const [command, ...args] = this.#options.niceness
      ? ['nice', '-n', String(this.#options.niceness), ...clamdCommand]
      : clamdCommand;
    const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#launchedAt = Date.now();
    // If this process exits without stop() (an uncaught error, process.exit), take clamd along.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    this.#exited = new Promise((resolve) => {
      child.once('exit', resolve);
      child.once('error', resolve);
    }).finally(() => process.off('exit', killOnExit));
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => this.#onOutput(line));
    }
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      spawnError = error;
    });
    try {
      await this.#waitUntilReady(child);
    } catch (error) {
      child.kill('SIGKILL');
      await this.#exited;
      if (spawnError) throw new Error(`cannot run ${this.#options.clamdBinary}: ${spawnError.message}`);
      throw error;
    }
    void this.#exited.then(() => this.#onExit(child));
    this.#logger.info({ pid: child.pid, socket: this.socketPath }, 'managed clamd is ready');
    this.emit('ready', child.pid!);
  }

  #onOutput(line: string): void {
    this.#output.push(line);
    if (this.#output.length > OUTPUT_LINES_KEPT) this.#output.shift();
    const text = line.replace(/^.*? -> /, '');
    // clamd says when a reload starts, ends and fails only in its log (concurrent reload: it keeps
    // scanning on the old database meanwhile, and keeps that one if the new one fails to load).
    if (/^Reading databases from /.test(text)) this.emit('reloading');
    else if (/^Activating the newly loaded database/.test(text)) this.emit('reloaded');
    else if (/reload_th: Database load failed/.test(text)) this.#reloadError = text;
    else if (/Database reload failed/.test(text)) {
      this.emit('reload-failed', this.#reloadError ?? text);
      this.#reloadError = undefined;
    }
    if (/ERROR/.test(text)) this.#logger.error({ clamd: text }, 'clamd');
    else if (/WARNING/.test(text)) this.#logger.warn({ clamd: text }, 'clamd');
    else this.#logger.debug({ clamd: text }, 'clamd');
  }

  async #waitUntilReady(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + (this.#options.startTimeoutMs ?? 300_000);
    let exited = false;
    void this.#exited.then(() => {
      exited = true;
    });
    let pause = 20;
    while (!exited) {
      if (this.#stopping) throw new Error('managed clamd stopped while starting');
      try {
        const reply = await clamdCommand({ kind: 'unix', path: this.socketPath }, 'PING', {
          connectTimeoutMs: 1000,
          replyTimeoutMs: 5000,
        });
        if (reply === 'PONG') return;
      } catch {
        // Not listening yet: clamd opens its socket only once the database is loaded.
      }
      if (Date.now() > deadline)
        throw new Error(`clamd did not answer PING within ${this.#options.startTimeoutMs} ms`);
      await sleep(pause);
      pause = Math.min(pause * 2, 500);
    }
    const how = child.exitCode === null ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
    throw new Error(`clamd exited during start (${how}): ${this.#output.slice(-5).join(' | ')}`);
  }

  #onExit(child: ChildProcess): void {
    if (this.#stopping || child !== this.#child) return;
    this.#logger.error(
      { pid: child.pid, code: child.exitCode, signal: child.signalCode, output: this.#output.slice(-3) },
      'managed clamd died',
    );
    this.emit('exit', child.exitCode, child.signalCode);
    if (this.#options.restart === false) return;
    if (Date.now() - this.#launchedAt > STABLE_RUN_MS)
      this.#restartDelayMs = this.#options.restartDelay?.initialMs ?? 250;
    void this.#restartLoop();
  }

  async #restartLoop(): Promise<void> {
    const maxMs = this.#options.restartDelay?.maxMs ?? 30_000;
    while (!this.#stopping) {
      try {
        await sleep(this.#restartDelayMs, undefined, { signal: this.#stopRestarts.signal });
      } catch {
        return; // stopped
      }
      this.#restartDelayMs = Math.min(this.#restartDelayMs * 2, maxMs);
      try {
        this.#logger.info({}, 'restarting managed clamd');
        await this.#launch();
        return;
      } catch (error) {
        this.#logger.error({ err: messageOf(error) }, 'managed clamd failed to restart');
      }
    }
  }

  /** Asks clamd to load its database directory again; it answers at once and reloads meanwhile. */
  async reload(): Promise<void> {
    const reply = await clamdCommand({ kind: 'unix', path: this.socketPath }, 'RELOAD', {
      connectTimeoutMs: 2000,
      replyTimeoutMs: 10_000,
    });
    if (reply !== 'RELOADING')
      throw new Error(`clamd answered ${JSON.stringify(reply.slice(0, 100))} to RELOAD`);
  }

  /** Resolves at the next `ready` (e.g. after a restart), with clamd's new pid. */
  async nextReady(): Promise<number> {
    const [pid] = await once(this, 'ready');
    return pid as number;
  }

  /** SIGTERM, then SIGKILL after the grace period; no restart afterwards. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#stopRestarts.abort();
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const graceOver = new AbortController();
    const grace = sleep(this.#options.stopGraceMs ?? 10_000, 'timeout', { signal: graceOver.signal }).catch(
      () => 'exited',
    );
    const first = await Promise.race([this.#exited.then(() => 'exited'), grace]);
    graceOver.abort();
    if (first === 'timeout') {
      // clamd finishes running scans before it exits on SIGTERM; their replies are discarded anyway.
      this.#logger.warn({ pid: child.pid }, 'clamd ignored SIGTERM; killing it');
      child.kill('SIGKILL');
      await this.#exited;
    }
  }
}

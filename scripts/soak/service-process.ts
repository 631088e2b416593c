import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

const CLI = path.resolve(import.meta.dirname, '../../src/cli/main.ts');

/**
 * `scangate serve` as a child in its own process group (with its managed clamd), restarted on the
 * same port and data directory after every kill. Its log is kept in a file and read as it comes:
 * each `scan finished` line is one stored verdict, so a job with two lines had two verdicts.
 */
export class ServiceProcess {
  readonly url: string;
  /** Stored verdicts per job id, over every incarnation of the service. */
  readonly verdictsLogged = new Map<string, number>();
  /** Verdicts a worker computed but could not store because it had lost its lease (fencing). */
  discardedVerdicts = 0;
  starts = 0;
  readonly #env: Record<string, string>;
  readonly #dataDir: string;
  readonly #log: WriteStream;
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> = Promise.resolve();

  constructor(env: Record<string, string>, port: number) {
    this.#env = env;
    this.#dataDir = env.SCANGATE_DATA_DIR!;
    this.url = `http://127.0.0.1:${port}`;
    this.#log = createWriteStream(path.join(this.#dataDir, 'soak-service.log'), { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the service and resolves once it listens. */
  async start(timeoutMs = 120_000): Promise<void> {
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: { PATH: process.env.PATH ?? '', ...this.#env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.#child = child;
    this.starts++;
    this.#exited = once(child, 'exit');
    child.stderr!.pipe(this.#log, { end: false });
    const { promise: listening, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(
      () => reject(new Error(`scangate did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.#log.write(`${line}\n`);
      if (line.includes('"scan finished"')) {
        const jobId = (JSON.parse(line) as { jobId?: string }).jobId;
        if (jobId) this.verdictsLogged.set(jobId, (this.verdictsLogged.get(jobId) ?? 0) + 1);
      } else if (line.includes('verdict discarded')) this.discardedVerdicts++;
      else if (line.includes('"scangate started"')) resolve();
    });
    void this.#exited.then(() => reject(new Error('scangate exited before listening; see soak-service.log')));
    try {
      await listening;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL to the whole group: the service and its managed clamd die as in a power cut. */
  async kill(): Promise<void> {
    this.killNow();
    await this.#exited;
  }

  /** Synchronous SIGKILL of a running service group (process exit handler). */
  killNow(): void {
    const child = this.#child;
    if (child?.pid && child.exitCode === null && child.signalCode === null)
      process.kill(-child.pid, 'SIGKILL');
  }

  /** SIGTERM and wait; SIGKILL if it has not exited within the grace period. */
  async stop(graceMs = 30_000): Promise<void> {
    const child = this.#child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** The managed clamd's pid (its pid file), read fresh: it changes at every restart. */
  clamdPid(): number | undefined {
    try {
      const pid = Number.parseInt(readFileSync(path.join(this.#dataDir, 'clamd', 'clamd.pid'), 'utf8'), 10);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.stop();
    this.#log.end();
    await once(this.#log, 'close');
  }
}

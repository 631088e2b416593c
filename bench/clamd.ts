import { link, readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { defaultConfig } from '../src/config.ts';
import { clamdCommand } from '../src/engine/clamd/connection.ts';
import { ManagedClamd } from '../src/engine/clamd/managed.ts';
import { writeOfflineSignatures } from '../src/engine/signatures.ts';

export interface BenchClamdOptions {
  dir: string;
  maxFileSizeBytes: number;
  maxThreads: number;
  /**
   * A database directory loaded beside the offline test database (the synthetic full-size one),
   * linked in file by file: the daily.cud of the test database gives clamd a version and date, which
   * the service's signature checks ask for.
   */
  extraDatabase?: string | undefined;
}

/** Hard links (same file system) or symbolic links: the cached database is never copied. */
async function linkDatabase(from: string, into: string): Promise<void> {
  const present = new Set(await readdir(into));
  for (const name of await readdir(from)) {
    if (present.has(name)) continue;
    await link(path.join(from, name), path.join(into, name)).catch(() =>
      symlink(path.join(from, name), path.join(into, name)),
    );
  }
}

/**
 * The clamd both the raw client and scangate talk to: the managed-clamd code of the service with the
 * offline test database (a daily.cud with a content-derived version), and the synthetic full-size
 * one when asked, on a unix socket. On the test database it is restarted between rounds so each round
 * starts with an empty MD5 cache and a fresh process (the full one takes ~16 s to load; every round's
 * bytes are new, so its cache never answers either).
 */
export class BenchClamd {
  readonly #options: BenchClamdOptions;
  readonly signatureDir: string;
  #clamd: ManagedClamd | undefined;

  constructor(options: BenchClamdOptions) {
    this.#options = options;
    this.signatureDir = path.join(options.dir, 'signatures');
  }

  get socketPath(): string {
    return path.join(this.#options.dir, 'clamd', 'clamd.sock');
  }

  get pid(): number | undefined {
    return this.#clamd?.pid;
  }

  async start(): Promise<void> {
    if (!this.#clamd) {
      await writeOfflineSignatures(this.signatureDir);
      if (this.#options.extraDatabase) await linkDatabase(this.#options.extraDatabase, this.signatureDir);
    }
    const clamd = new ManagedClamd({
      dir: path.join(this.#options.dir, 'clamd'),
      clamdBinary: '/usr/sbin/clamd',
      databaseDirectory: this.signatureDir,
      maxFileSizeBytes: this.#options.maxFileSizeBytes,
      maxThreads: this.#options.maxThreads,
      // As the service's managed clamd runs by default (CLAMD_NICE), so the API answers first.
      niceness: defaultConfig().engine.clamdNiceness,
      scanTimeoutMs: 600_000,
      restart: false,
      stopGraceMs: 5_000,
    });
    await clamd.start();
    this.#clamd = clamd;
  }

  async restart(): Promise<void> {
    await this.#clamd?.stop();
    await this.start();
  }

  async version(): Promise<string> {
    return clamdCommand({ kind: 'unix', path: this.socketPath }, 'VERSION', {
      connectTimeoutMs: 2000,
      replyTimeoutMs: 2000,
    });
  }

  async stop(): Promise<void> {
    await this.#clamd?.stop();
  }
}

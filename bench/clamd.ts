import path from 'node:path';
import { defaultConfig } from '../src/config.ts';
import { clamdCommand } from '../src/engine/clamd/connection.ts';
import { ManagedClamd } from '../src/engine/clamd/managed.ts';
import { writeOfflineSignatures } from '../src/engine/signatures.ts';

export interface BenchClamdOptions {
  dir: string;
  maxFileSizeBytes: number;
  maxThreads: number;
}

/**
 * The clamd both the raw client and scangate talk to: the managed-clamd code of the service with the
 * offline test database (a daily.cud with a content-derived version), on a unix socket. Restarted
 * between rounds so each round starts with an empty MD5 cache and a fresh process.
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
    if (!this.#clamd) await writeOfflineSignatures(this.signatureDir);
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

/**
 * A private clamd for one test: its own temp dir, the offline test signatures, clamd.conf options
 * overridable. Built on ManagedClamd (restarts off unless asked), so tests exercise the same code.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Config, defaultConfig } from '../../src/config.ts';
import type { ClamdOptionValue } from '../../src/engine/clamd/conf.ts';
import { ManagedClamd } from '../../src/engine/clamd/managed.ts';
import { writeShippedSignatures } from '../../src/engine/shipped-signatures.ts';
import { writeOfflineSignatures } from '../../src/engine/signatures.ts';

export interface TestClamdOptions {
  /** Extra or overriding clamd.conf options, e.g. `{ MaxRecursion: 3 }`. */
  clamdOptions?: Record<string, ClamdOptionValue>;
  /** scangate's size limit the clamd limits are derived from (default 64 MiB). */
  maxFileSizeBytes?: number;
  maxThreads?: number;
  scanTimeoutMs?: number;
  /** Let ManagedClamd restart clamd when it dies (default false). */
  restart?: boolean;
  /** sigtool to pack the signatures with; a missing one exercises the plain .ndb/.hdb fallback. */
  sigtool?: string;
}

export interface TestClamd {
  dir: string;
  socketPath: string;
  /** The current clamd pid (changes after a restart). */
  readonly pid: number;
  managed: ManagedClamd;
  /** Sends a signal to clamd and waits until it has died. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops clamd and removes its directory. */
  stop(): Promise<void>;
}

export async function startTestClamd(options: TestClamdOptions = {}): Promise<TestClamd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'scangate-clamd-'));
  const signatures = path.join(dir, 'signatures');
  await writeOfflineSignatures(signatures, options.sigtool ? { sigtool: options.sigtool } : {});
  // As the managed clamd of the service does: scangate's own files next to the database.
  await writeShippedSignatures(signatures);
  const managed = new ManagedClamd({
    dir: path.join(dir, 'clamd'),
    clamdBinary: '/usr/sbin/clamd',
    databaseDirectory: signatures,
    maxFileSizeBytes: options.maxFileSizeBytes ?? 64 * 1024 * 1024,
    maxThreads: options.maxThreads ?? 2,
    scanTimeoutMs: options.scanTimeoutMs ?? 60_000,
    extra: options.clamdOptions,
    restart: options.restart ?? false,
    restartDelay: { initialMs: 50, maxMs: 1000 },
    stopGraceMs: 5_000,
  });
  try {
    await managed.start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const currentPid = () => {
    const pid = managed.pid;
    if (pid === undefined) throw new Error('test clamd is not running');
    return pid;
  };
  return {
    dir,
    socketPath: managed.socketPath,
    get pid() {
      return currentPid();
    },
    managed,
    async kill(signal = 'SIGKILL') {
      const died = once(managed, 'exit');
      process.kill(currentPid(), signal);
      await died;
    },
    async stop() {
      await managed.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A config whose engine talks to the given clamd addresses (all other settings default). */
export function engineTestConfig(
  dataDir: string,
  engine: Partial<Config['engine']> = {},
  maxFileSizeBytes?: number,
): Config {
  const config = defaultConfig(dataDir);
  config.engine = { ...config.engine, healthCheckIntervalMs: 60_000, ...engine };
  // The engine tests run on the offline test database, asked for explicitly.
  config.signatures.mode = 'test';
  if (maxFileSizeBytes !== undefined) config.limits.maxFileSizeBytes = maxFileSizeBytes;
  return config;
}

import path from 'node:path';
import type { Config } from '../config.ts';
import type { ClamdOptionValue } from './clamd-conf.ts';
import { ClamdPool } from './clamd-pool.ts';
import type { ScanEngine } from './engine.ts';
import { type EngineLogger, silentLogger } from './logger.ts';
import { ManagedClamd } from './managed-clamd.ts';
import { databaseDirectoryWithShippedSignatures, shippedSignaturesDigest } from './shipped-signatures.ts';
import {
  chooseDatabaseDirectory,
  ensureOfflineSignatures,
  hasRealDatabase,
  offlineSignatureDir,
  signatureDirsFor,
} from './signatures.ts';

export interface EngineHandle {
  engine: ScanEngine;
  /** Present when scangate runs its own clamd (no clamd address configured). */
  managed?: ManagedClamd;
  /** Closes the engine, then stops the managed clamd. */
  close(): Promise<void>;
}

export interface CreateEngineOptions {
  /** Extra or overriding clamd.conf options for the managed clamd (tests: a small MaxRecursion, ...). */
  clamdOptions?: Record<string, ClamdOptionValue>;
}

/**
 * The scan engine for a config: a pool over the configured clamd addresses, or, when none is
 * configured, over a clamd that scangate starts in `<dataDir>/clamd` with the system database when
 * freshclam has provided one, else the offline test database (written here if missing).
 */
export async function createEngine(
  config: Config,
  logger: EngineLogger = silentLogger,
  options: CreateEngineOptions = {},
): Promise<EngineHandle> {
  let managed: ManagedClamd | undefined;
  let addresses = config.engine.addresses;
  let shippedSignaturesId: string | undefined;
  if (addresses.length === 0) {
    const chosenDirectory = chooseDatabaseDirectory(signatureDirsFor(config));
    if (chosenDirectory === offlineSignatureDir(config) && !hasRealDatabase(chosenDirectory)) {
      await ensureOfflineSignatures(chosenDirectory);
    }
    // scangate's own signature files (blind formats, …) load next to whichever database was chosen.
    const databaseDirectory = await databaseDirectoryWithShippedSignatures(chosenDirectory, {
      ownedRoot: config.dataDir,
      linkedDir: path.join(config.dataDir, 'clamd-database'),
    });
    shippedSignaturesId = shippedSignaturesDigest();
    managed = new ManagedClamd({
      dir: path.join(config.dataDir, 'clamd'),
      clamdBinary: config.engine.clamdBinary,
      databaseDirectory,
      maxFileSizeBytes: config.limits.maxFileSizeBytes,
      maxThreads: config.engine.maxThreads,
      niceness: config.engine.clamdNiceness,
      scanTimeoutMs: config.engine.scanTimeoutMs,
      extra: options.clamdOptions,
      logger,
    });
    logger.info({ databaseDirectory }, 'starting managed clamd');
    await managed.start();
    addresses = [managed.socketPath];
  }
  const pool = new ClamdPool(addresses, {
    connectTimeoutMs: config.engine.connectTimeoutMs,
    scanTimeoutMs: config.engine.scanTimeoutMs,
    healthCheckIntervalMs: config.engine.healthCheckIntervalMs,
    encryptedVerdict: config.engine.encryptedVerdict,
    shippedSignaturesId,
    logger,
  });
  await pool.start();
  // After a restart the health check would notice within an interval; tell the pool at once.
  managed?.on('ready', () => void pool.checkNow());
  managed?.on('exit', () => void pool.checkNow());
  const handle: EngineHandle = {
    engine: pool,
    async close() {
      await pool.close();
      await managed?.stop();
    },
  };
  if (managed) handle.managed = managed;
  return handle;
}

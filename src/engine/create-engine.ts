import path from 'node:path';
import type { Config } from '../config.ts';
import { type Logger, silentLogger } from '../logger.ts';
import type { ClamdOptionValue } from './clamd/conf.ts';
import { ManagedClamd } from './clamd/managed.ts';
import { ClamdPool } from './clamd/pool.ts';
import type { ScanEngine } from './engine.ts';
import { ManagedFreshclam } from './managed-freshclam.ts';
import { shippedSignaturesDigest, writeShippedSignatures } from './shipped-signatures.ts';
import { externalSignatures, SignatureLifecycle, type SignatureReporter } from './signature-lifecycle.ts';
import { signaturePlanFor } from './signature-plan.ts';
import { ensureOfflineSignatures } from './signatures.ts';

export interface EngineHandle {
  engine: ScanEngine;
  /** Present when scangate runs its own clamd (no clamd address configured). */
  managed?: ManagedClamd;
  /** Where the signatures come from, whether one is loaded, the last update and reload. */
  signatures: SignatureReporter;
  /** Closes the engine, then stops freshclam and the managed clamd. */
  close(): Promise<void>;
}

export interface CreateEngineOptions {
  /** Extra or overriding clamd.conf options for the managed clamd (tests: a small MaxRecursion, ...). */
  clamdOptions?: Record<string, ClamdOptionValue>;
  /** How often the signature directory is looked at for changes (default 30 s). */
  signatureWatchIntervalMs?: number;
  /** First retry after a failed freshclam run (default 60 s). */
  freshclamRetryDelayMs?: number;
}

/**
 * The scan engine for a config: a pool over the configured clamd addresses, or, when none is
 * configured, over a clamd that scangate starts in `<dataDir>/clamd` on the database its
 * signature plan names (freshclam run by scangate, a system directory, or the offline test
 * database when SIGNATURES=test). With no database yet, clamd starts when the first one arrives;
 * until then every scan fails as engine_unavailable (retried), never as clean.
 */
export async function createEngine(
  config: Config,
  logger: Logger = silentLogger,
  options: CreateEngineOptions = {},
): Promise<EngineHandle> {
  const plan = await signaturePlanFor(config);
  const poolOptions = {
    connectTimeoutMs: config.engine.connectTimeoutMs,
    scanTimeoutMs: config.engine.scanTimeoutMs,
    healthCheckIntervalMs: config.engine.healthCheckIntervalMs,
    encryptedVerdict: config.engine.encryptedVerdict,
    logger,
    databaseName: plan.databaseName,
  };
  if (plan.source === 'external') {
    const pool = new ClamdPool(config.engine.addresses, poolOptions);
    await pool.start();
    return {
      engine: pool,
      signatures: externalSignatures(config.signatures.mode === 'test', plan.databaseName),
      close: () => pool.close(),
    };
  }
  const databaseDirectory = plan.directory!;
  if (plan.source === 'test') {
    await ensureOfflineSignatures(databaseDirectory);
    logger.warn(
      { databaseDirectory },
      'SIGNATURES=test: the offline test database detects only EICAR and ClamAV test files; do not rely on its clean verdicts',
    );
  }
  // scangate's own signature files (blind formats, …) load next to the database, in the directory
  // clamd reads, when that directory is scangate's. The system's freshclam directory is not: there
  // an operator copies them (write-signatures --shipped); the format self-test reports either way.
  const shipped = ownedBy(config.dataDir, databaseDirectory);
  if (shipped) await writeShippedSignatures(databaseDirectory);
  else
    logger.warn(
      { databaseDirectory },
      "scangate's shipped signatures are not written into a directory it does not own: formats clamd cannot read (RAR, zstd, Zip64 inside archives) pass as clean unless they are copied there",
    );
  const managed = new ManagedClamd({
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
  const freshclam =
    plan.source === 'freshclam'
      ? new ManagedFreshclam({
          ...config.signatures,
          dir: path.join(config.dataDir, 'freshclam'),
          databaseDirectory,
          intervalMs: config.signatures.updateIntervalSeconds * 1000,
          retryDelayMs: options.freshclamRetryDelayMs,
          logger,
        })
      : undefined;
  const lifecycle = new SignatureLifecycle({
    source: plan.source,
    databaseName: plan.databaseName,
    directory: databaseDirectory,
    clamd: managed,
    freshclam,
    watchIntervalMs: options.signatureWatchIntervalMs,
    // Scans may go to clamd the moment its database is active, not a health-check interval later.
    onDatabaseActive: () => pool.checkNow(),
    logger,
  });
  logger.info({ databaseDirectory, signatures: plan.source }, 'starting managed clamd');
  const pool = new ClamdPool([managed.socketPath], {
    ...poolOptions,
    // The shipped files are not part of the directory's fingerprint (they alone are no database):
    // their digest is, so an upgrade that adds a signature never answers an older cached clean.
    databaseTag: () => {
      const tag = lifecycle.databaseTag();
      return tag && shipped ? `${tag}+scangate.${shippedSignaturesDigest()}` : tag;
    },
  });
  // Which database clamd now has, as clamd's VERSION says (the log line operators look for).
  lifecycle.on('reload', (reload) => {
    if (reload.outcome === 'failed') return;
    // Sessions opened before the reload must not carry scans on (see ClamdPool).
    pool.renewSessions();
    void pool.status().then((status) => {
      const builtAt = status.signatureDate;
      logger.info(
        {
          signatureVersion: status.signatureVersion ?? null,
          builtAt: builtAt?.toISOString() ?? null,
          ageSeconds: builtAt ? Math.round((Date.now() - builtAt.getTime()) / 1000) : null,
        },
        'signature database in use',
      );
    });
  });
  try {
    await lifecycle.start();
    await pool.start();
  } catch (error) {
    await lifecycle.stop();
    await managed.stop();
    throw error;
  }
  // After a restart the health check would notice within an interval; tell the pool at once.
  managed.on('ready', () => void pool.checkNow());
  managed.on('exit', () => {
    pool.renewSessions();
    void pool.checkNow();
  });
  return {
    engine: pool,
    managed,
    signatures: lifecycle,
    async close() {
      await pool.close();
      await lifecycle.stop();
      await managed.stop();
    },
  };
}

/** True when `directory` is inside scangate's data directory (scangate may write there). */
function ownedBy(dataDir: string, directory: string): boolean {
  const relative = path.relative(path.resolve(dataDir), path.resolve(directory));
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

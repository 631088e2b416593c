import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { type Config, ConfigError } from '../config.ts';
import {
  hasRealDatabase,
  holdsOfflineTestDatabase,
  offlineSignatureDir,
  SYSTEM_SIGNATURE_DIR,
} from './signatures.ts';

/** Where the signatures of the clamd scangate talks to come from. */
export type SignatureSource = 'freshclam' | 'system' | 'test' | 'external';

export interface SignaturePlan {
  source: SignatureSource;
  /** The managed clamd's DatabaseDirectory (absent for an external clamd). */
  directory?: string;
  /** How the database is named in results and metrics: `scangate-test` or `clamav`. */
  databaseName: string;
}

/** What the plan depends on that only the file system can tell. */
export interface SignatureFacts {
  /** The system directory (or the first SIGNATURE_DIRS entry) holds main/daily from freshclam. */
  systemHasDatabase: boolean;
  freshclamInstalled: boolean;
  /** The directory the plan would use holds scangate's offline test database. */
  holdsTestDatabase: (dir: string) => boolean;
}

export const TEST_DATABASE_NAME = 'scangate-test';
export const OFFICIAL_DATABASE_NAME = 'clamav';

/** Where freshclam keeps the database when scangate runs it (a volume in the container image). */
export function freshclamDatabaseDir(config: Pick<Config, 'dataDir' | 'engine'>): string {
  return config.engine.signatureDirs[0] ?? path.join(config.dataDir, 'clamav');
}

function systemDir(config: Pick<Config, 'engine'>): string {
  return config.engine.signatureDirs[0] ?? SYSTEM_SIGNATURE_DIR;
}

/**
 * Pure: the signature plan for a config. Throws a ConfigError when, without
 * SIGNATURES=test, the managed clamd would load scangate's offline test database: it detects only
 * EICAR and ClamAV's test files, and `clean` from it protects no one.
 */
export function planSignatures(
  config: Pick<Config, 'dataDir' | 'engine' | 'signatures'>,
  facts: SignatureFacts,
): SignaturePlan {
  const mode = config.signatures.mode;
  const databaseName = mode === 'test' ? TEST_DATABASE_NAME : OFFICIAL_DATABASE_NAME;
  if (config.engine.addresses.length > 0) return { source: 'external', databaseName };
  if (mode === 'test') return { source: 'test', directory: offlineSignatureDir(config), databaseName };
  let plan: SignaturePlan;
  if (mode === 'freshclam')
    plan = { source: 'freshclam', directory: freshclamDatabaseDir(config), databaseName };
  else if (mode === 'system') plan = { source: 'system', directory: systemDir(config), databaseName };
  else if (config.engine.signatureDirs.length > 0 || facts.systemHasDatabase || !facts.freshclamInstalled)
    plan = { source: 'system', directory: systemDir(config), databaseName };
  else plan = { source: 'freshclam', directory: freshclamDatabaseDir(config), databaseName };
  if (facts.holdsTestDatabase(plan.directory!)) {
    throw new ConfigError(
      `refusing to start: ${plan.directory} holds scangate's offline test database (EICAR and ClamAV's test files only). ` +
        'Set SIGNATURES=test to try scangate out on it, or give it a real database (SIGNATURES=freshclam).',
    );
  }
  return plan;
}

async function executable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}

export async function gatherSignatureFacts(
  config: Pick<Config, 'engine' | 'signatures'>,
): Promise<SignatureFacts> {
  return {
    systemHasDatabase: hasRealDatabase(systemDir(config)),
    freshclamInstalled: await executable(config.signatures.freshclamBinary),
    holdsTestDatabase: holdsOfflineTestDatabase,
  };
}

export async function signaturePlanFor(
  config: Pick<Config, 'dataDir' | 'engine' | 'signatures'>,
): Promise<SignaturePlan> {
  return planSignatures(config, await gatherSignatureFacts(config));
}

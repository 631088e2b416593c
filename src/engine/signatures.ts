import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';
import { eicarBytes } from './eicar.ts';

/** Debian's freshclam target: holds the official database only on machines with internet access. */
export const SYSTEM_SIGNATURE_DIR = '/var/lib/clamav';

const STAMP_FILE = '.scangate-signatures.json';
const CUD_FILE = 'daily.cud';
const PLAIN_NDB = 'scangate-test.ndb';
const PLAIN_HDB = 'scangate-test.hdb';
/** The CVD build date is what clamd reports as the signature date; rebuild before it looks stale. */
const MAX_CUD_AGE_MS = 24 * 3600_000;

/** Bump when the layout written below changes, so existing data dirs are rewritten. */
const FORMAT = 1;

interface SignatureStamp {
  format: number;
  digest: string;
  cvdVersion: number;
  packing: 'cud' | 'plain';
  builtAt: string;
}

/** The signature lines of the offline test database (see reference/clamav.md §2). */
export function offlineSignatureLines(): { ndb: string; hdb: string } {
  return {
    // A body signature (any file type, any offset) also finds EICAR inside zip, gzip, tar, nested archives.
    ndb: `Eicar-Signature:0:*:${eicarBytes().toString('hex')}\n`,
    // Every clamav-testfiles sample wraps clam.exe, so its MD5:size line catches all of them.
    hdb: 'aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n',
  };
}

/** A CVD version derived from the signature content: a signature change changes the version. */
export function offlineSignatureVersion(lines = offlineSignatureLines()): {
  digest: string;
  cvdVersion: number;
} {
  const { ndb, hdb } = lines;
  const digest = createHash('sha256').update(`${FORMAT}\n${ndb}${hdb}`).digest('hex');
  return { digest, cvdVersion: 100_000 + (Number.parseInt(digest.slice(0, 8), 16) % 900_000) };
}

function runSigtool(sigtool: string, cwd: string, cvdVersion: number): Promise<void> {
  const args = [
    `--build=${CUD_FILE}`,
    '--unsigned',
    `--cvd-version=${cvdVersion}`,
    // An existing CVD in --datadir would override --cvd-version with its version + 1.
    `--datadir=${cwd}`,
    '--no-cdiff',
  ];
  return new Promise((resolve, reject) => {
    const child = execFile(sigtool, args, { cwd, timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`sigtool failed: ${error.message} ${stderr}`.trim()));
      else resolve();
    });
    // sigtool asks for the builder's name on stdin.
    child.stdin?.end('scangate\n');
  });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * Writes the offline test signature database into `dir`: packed as an unsigned `daily.cud` (so that
 * clamd's VERSION reports a database version and date), or, when sigtool fails, as plain .ndb/.hdb
 * files (clamd then reports no database version). Files are renamed into place, so a running clamd
 * never reads a half-written database. `lines` replaces the signature set (tests of signature updates).
 */
export async function writeOfflineSignatures(
  dir: string,
  options: { sigtool?: string; lines?: { ndb: string; hdb: string } } = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const lines = options.lines ?? offlineSignatureLines();
  const { ndb, hdb } = lines;
  const { digest, cvdVersion } = offlineSignatureVersion(lines);
  const staging = await mkdtemp(path.join(dir, '.staging-'));
  try {
    await writeFile(path.join(staging, 'daily.ndb'), ndb);
    await writeFile(path.join(staging, 'daily.hdb'), hdb);
    await writeFile(path.join(staging, 'COPYING'), 'scangate offline test signatures\n');
    let packing: SignatureStamp['packing'] = 'cud';
    try {
      await runSigtool(options.sigtool ?? 'sigtool', staging, cvdVersion);
      if (!(await exists(path.join(staging, CUD_FILE)))) throw new Error('sigtool wrote no daily.cud');
    } catch {
      packing = 'plain';
    }
    if (packing === 'cud') {
      await rename(path.join(staging, CUD_FILE), path.join(dir, CUD_FILE));
      await rm(path.join(dir, PLAIN_NDB), { force: true });
      await rm(path.join(dir, PLAIN_HDB), { force: true });
    } else {
      await rename(path.join(staging, 'daily.ndb'), path.join(dir, PLAIN_NDB));
      await rename(path.join(staging, 'daily.hdb'), path.join(dir, PLAIN_HDB));
      await rm(path.join(dir, CUD_FILE), { force: true });
    }
    const stamp: SignatureStamp = {
      format: FORMAT,
      digest,
      cvdVersion,
      packing,
      builtAt: new Date().toISOString(),
    };
    await writeFile(path.join(dir, STAMP_FILE), `${JSON.stringify(stamp, null, 2)}\n`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** True when `dir` holds the current offline database, recent enough that its date looks fresh. */
export async function offlineSignaturesCurrent(dir: string, now = Date.now()): Promise<boolean> {
  let stamp: SignatureStamp;
  try {
    stamp = JSON.parse(await readFile(path.join(dir, STAMP_FILE), 'utf8')) as SignatureStamp;
  } catch {
    return false;
  }
  if (stamp.format !== FORMAT || stamp.digest !== offlineSignatureVersion().digest) return false;
  if (stamp.packing === 'plain') {
    return (await exists(path.join(dir, PLAIN_NDB))) && (await exists(path.join(dir, PLAIN_HDB)));
  }
  return (await exists(path.join(dir, CUD_FILE))) && now - Date.parse(stamp.builtAt) < MAX_CUD_AGE_MS;
}

/** Writes the offline database unless `dir` already holds the current one. Answers whether it wrote. */
export async function ensureOfflineSignatures(
  dir: string,
  options: { sigtool?: string } = {},
): Promise<boolean> {
  if (await offlineSignaturesCurrent(dir)) return false;
  await writeOfflineSignatures(dir, options);
  return true;
}

/** True when `dir` holds scangate's offline test database (written by writeOfflineSignatures). */
export function holdsOfflineTestDatabase(dir: string): boolean {
  return existsSync(path.join(dir, STAMP_FILE));
}

/** A real (official) database: what freshclam writes, never our offline test files. */
export function hasRealDatabase(dir: string): boolean {
  try {
    return readdirSync(dir).some((name) => /^(main|daily)\.c[vl]d$/.test(name));
  } catch {
    return false;
  }
}

/** Where scangate keeps its own (offline test) signatures. */
export function offlineSignatureDir(config: Pick<Config, 'dataDir'>): string {
  return path.join(config.dataDir, 'signatures');
}

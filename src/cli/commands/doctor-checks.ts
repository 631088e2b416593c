import { constants } from 'node:fs';
import { access, open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Config } from '../../config.ts';
import { parseClamdAddress } from '../../engine/clamd/address.ts';
import { clamdCommand } from '../../engine/clamd/connection.ts';
import { parseVersionReply } from '../../engine/clamd/version.ts';
import { SIGNATURE_FILE } from '../../engine/database-directory.ts';
import { signaturePlanFor } from '../../engine/signature-plan.ts';
import { messageOf } from '../../errors.ts';
import { openBlobStore } from '../../sources/blobs/open-blob-store.ts';
import { openStore } from '../../store/open-store.ts';
import type { CheckResult } from './check-result.ts';

/** Older than this, signatures miss current malware: freshclam normally updates several times a day. */
const SIGNATURE_WARN_HOURS = 48;
const DEFAULT_MAX_AGE_SECONDS = 7 * 24 * 3600;

/** Pure: the signature age check from a database date. */
export function signatureAgeCheck(
  databaseDate: Date | undefined,
  now = new Date(),
  maxAgeSeconds = DEFAULT_MAX_AGE_SECONDS,
): CheckResult {
  const name = 'signature age';
  if (!databaseDate) {
    return {
      name,
      status: 'warn',
      detail: 'unknown: the database reports no build date (plain signature files)',
      fix: 'use packed databases (main.cvd/daily.cvd from freshclam) so their age can be checked',
    };
  }
  const hours = Math.max(0, (now.getTime() - databaseDate.getTime()) / 3600_000);
  const age = hours < 48 ? `${hours.toFixed(1)} hours` : `${(hours / 24).toFixed(1)} days`;
  const detail = `${age} (built ${databaseDate.toISOString()})`;
  const fix = 'run freshclam (or let the clamav-freshclam service run) and reload clamd';
  if (hours * 3600 > maxAgeSeconds)
    return { name, status: 'fail', detail: `${detail}: older than MAX_SIGNATURE_AGE, not ready`, fix };
  if (hours > Math.min(SIGNATURE_WARN_HOURS, maxAgeSeconds / 7200))
    return { name, status: 'warn', detail, fix };
  return { name, status: 'ok', detail };
}

/** The build time in a CVD/CLD/CUD header: `ClamAV-VDB:<date>:<version>:…:<builder>:<unix seconds>`. */
export function parseDatabaseHeader(header: string): { version: string; builtAt: Date } | undefined {
  const fields = header.replace(/\0/g, '').trimEnd().split(':');
  if (fields[0] !== 'ClamAV-VDB' || fields.length < 9) return undefined;
  const seconds = Number(fields[8]);
  if (!Number.isInteger(seconds) || seconds <= 0) return undefined;
  return { version: fields[2]!, builtAt: new Date(seconds * 1000) };
}

async function newestDatabaseDate(dir: string): Promise<Date | undefined> {
  let newest: Date | undefined;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!/^(main|daily|bytecode)\.c[vlu]d$/.test(name)) continue;
    const file = await open(path.join(dir, name));
    try {
      const { buffer, bytesRead } = await file.read(Buffer.alloc(512), 0, 512, 0);
      const header = parseDatabaseHeader(buffer.subarray(0, bytesRead).toString('latin1'));
      // daily is the freshest part of the database; main is rebuilt rarely.
      if (header && name.startsWith('daily')) return header.builtAt;
      if (header && (!newest || header.builtAt > newest)) newest = header.builtAt;
    } finally {
      await file.close();
    }
  }
  return newest;
}

async function configuredClamdChecks(config: Config): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let databaseDate: Date | undefined;
  let anyReachable = false;
  for (const text of config.engine.addresses) {
    const options = { connectTimeoutMs: config.engine.connectTimeoutMs, replyTimeoutMs: 5000 };
    try {
      const address = parseClamdAddress(text);
      const pong = (await clamdCommand(address, 'PING', options)).trim();
      if (pong !== 'PONG') throw new Error(`answered ${JSON.stringify(pong.slice(0, 80))} to PING`);
      const version = parseVersionReply(await clamdCommand(address, 'VERSION', options));
      anyReachable = true;
      databaseDate ??= version.databaseDate;
      const database = version.databaseVersion ? `, database ${version.databaseVersion}` : '';
      results.push({
        name: `clamd ${text}`,
        status: 'ok',
        detail: `ClamAV ${version.engineVersion}${database}`,
      });
    } catch (error) {
      results.push({
        name: `clamd ${text}`,
        status: 'fail',
        detail: messageOf(error),
        fix: 'start clamd (systemctl start clamav-daemon) or correct CLAMD_ADDRESS; unset it to let scangate run its own clamd',
      });
    }
  }
  if (anyReachable)
    results.push(signatureAgeCheck(databaseDate, new Date(), config.signatures.maxAgeSeconds));
  if (anyReachable && config.signatures.mode === 'test')
    results.push(testSignaturesCheck('the configured clamd'));
  if (anyReachable) {
    // Which containers this clamd opens, and whether scangate's signatures for the rest are loaded.
    const { configuredFormatCheck } = await import('./format-check.ts');
    results.push(await configuredFormatCheck(config));
  }
  return results;
}

async function managedClamdChecks(config: Config): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  try {
    await access(config.engine.clamdBinary, constants.X_OK);
    results.push({
      name: 'clamd',
      status: 'ok',
      detail: `managed: ${config.engine.clamdBinary} is executable`,
    });
  } catch (error) {
    results.push({
      name: 'clamd',
      status: 'fail',
      detail: `managed clamd binary unusable: ${messageOf(error)}`,
      fix: 'apt-get install clamav-daemon (or npm run setup), set CLAMD_BINARY, or point CLAMD_ADDRESS at a running clamd',
    });
  }
  let plan: Awaited<ReturnType<typeof signaturePlanFor>>;
  try {
    plan = await signaturePlanFor(config);
  } catch (error) {
    results.push({
      name: 'signatures',
      status: 'fail',
      detail: messageOf(error),
      fix: 'set SIGNATURES=test only to try scangate out; for real use SIGNATURES=freshclam (or system with a current /var/lib/clamav)',
    });
    return results;
  }
  const directory = plan.directory!;
  const files = (await readdir(directory).catch(() => [] as string[])).filter((name) =>
    SIGNATURE_FILE.test(name),
  );
  if (plan.source === 'test') {
    results.push(testSignaturesCheck(files.length ? directory : 'written at start'));
    if (files.length > 0) results.push(signatureAgeCheck(await newestDatabaseDate(directory)));
    return results;
  }
  if (plan.source === 'freshclam') {
    const freshclamOk = await access(config.signatures.freshclamBinary, constants.X_OK).then(
      () => true,
      () => false,
    );
    results.push(
      freshclamOk
        ? {
            name: 'freshclam',
            status: 'ok',
            detail: `managed: ${config.signatures.freshclamBinary}, into ${directory}`,
          }
        : {
            name: 'freshclam',
            status: 'fail',
            detail: `${config.signatures.freshclamBinary} is not executable`,
            fix: 'apt-get install clamav-freshclam, or set FRESHCLAM_BINARY',
          },
    );
  }
  if (files.length === 0) {
    results.push(
      plan.source === 'freshclam'
        ? {
            name: 'signatures',
            status: 'warn',
            detail: `no database in ${directory} yet: scangate's freshclam downloads it at start (not ready until then)`,
            fix: 'let freshclam reach database.clamav.net, or set FRESHCLAM_PRIVATE_MIRRORS / FRESHCLAM_PROXY',
          }
        : {
            name: 'signatures',
            status: 'fail',
            detail: `no signature files in ${directory}`,
            fix: 'run freshclam to fill it, correct SIGNATURE_DIRS, or set SIGNATURES=freshclam',
          },
    );
    return results;
  }
  results.push({
    name: 'signatures',
    status: 'ok',
    detail: `${plan.source}: ${files.length} database files in ${directory}`,
  });
  results.push(
    signatureAgeCheck(await newestDatabaseDate(directory), new Date(), config.signatures.maxAgeSeconds),
  );
  return results;
}

/** Asked for with SIGNATURES=test, so a warning (exit 0); never ok. */
function testSignaturesCheck(where: string): CheckResult {
  return {
    name: 'signatures',
    status: 'warn',
    detail: `offline test database (SIGNATURES=test, ${where}): it detects EICAR and ClamAV's test files, nothing else`,
    fix: 'for real use unset SIGNATURES (or SIGNATURES=freshclam) so scangate keeps the official database current',
  };
}

export async function clamdChecks(config: Config): Promise<CheckResult[]> {
  return config.engine.addresses.length > 0 ? configuredClamdChecks(config) : managedClamdChecks(config);
}

/** Database reachable (and migrated), and whether anyone holds a key to use the API. */
export async function storeChecks(config: Config): Promise<CheckResult[]> {
  const where = config.store.databaseUrl
    ? `PostgreSQL ${new URL(config.store.databaseUrl).host}`
    : `SQLite in ${config.dataDir}`;
  let store: Awaited<ReturnType<typeof openStore>>;
  try {
    store = await openStore(config);
  } catch (error) {
    return [
      {
        name: 'database',
        status: 'fail',
        detail: `${where}: ${messageOf(error)}`,
        fix: config.store.databaseUrl
          ? 'check that PostgreSQL runs and DATABASE_URL (host, port, user, database) is right'
          : `make ${config.dataDir} writable by this user, or set SCANGATE_DATA_DIR`,
      },
    ];
  }
  try {
    await store.ping();
    const results: CheckResult[] = [{ name: 'database', status: 'ok', detail: `${where} reachable` }];
    const storedKeys = (await store.keys.list()).filter((key) => !key.revokedAt).length;
    const keys = config.auth.apiKeys.length + storedKeys;
    results.push(
      keys > 0
        ? {
            name: 'api keys',
            status: 'ok',
            detail: `${config.auth.apiKeys.length} configured, ${storedKeys} stored`,
          }
        : {
            name: 'api keys',
            status: 'warn',
            detail: 'no API key: every API request will be refused',
            fix: 'set API_KEYS=tenant=key, or run scangate keys create --tenant NAME',
          },
    );
    return results;
  } catch (error) {
    return [
      {
        name: 'database',
        status: 'fail',
        detail: `${where}: ${messageOf(error)}`,
        fix: 'check the database',
      },
    ];
  } finally {
    await store.close();
  }
}

/** Writes, reads back and deletes a small probe blob where uploads are staged. */
export async function blobStoreCheck(config: Config): Promise<CheckResult> {
  const where = config.blobs.s3Bucket
    ? `s3://${config.blobs.s3Bucket}/${config.blobs.s3Prefix}`
    : path.join(config.dataDir, 'uploads');
  try {
    const blobs = await openBlobStore(config);
    const key = `doctor-probe-${Date.now()}`;
    await blobs.put(key, Readable.from([Buffer.from('scangate doctor probe\n')]), { maxBytes: 1024 });
    try {
      for await (const _chunk of await blobs.open(key)) {
        // Reading it back proves the workers can.
      }
    } finally {
      await blobs.delete(key);
    }
    return { name: 'blob store', status: 'ok', detail: `${where} writable` };
  } catch (error) {
    return {
      name: 'blob store',
      status: 'fail',
      detail: `${where}: ${messageOf(error)}`,
      fix: config.blobs.s3Bucket
        ? 'check BLOB_S3_BUCKET exists and the S3 credentials may put, get and delete objects in it'
        : `make ${where} writable by this user, or set SCANGATE_DATA_DIR`,
    };
  }
}

import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ScanGateError } from '../../errors.ts';
import { assertBlobKey, isBlobKey, stagingLimit } from './blob-key.ts';
import type { BlobStore, StagedBlob } from './blob-store.ts';

/** Blobs are written under a hidden temp name first; keys can never start with a dot. */
const TEMP_PREFIX = '.partial-';
/** A temp file this old belongs to a process that died mid-upload (uploads time out far sooner). */
const STALE_TEMP_MS = 24 * 3600_000;
/**
 * Temp names carry the writer's pid and host, so a restarted service can tell the temp files of a
 * process that died mid-upload (kill -9, OOM) from uploads another live process is still writing.
 */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const TEMP_OWNER = /^\.partial-(\d+)\.([0-9a-f]{8})-/;
/** Temp files this process is writing now, across all stores. */
const tempsInFlight = new Set<string>();

/** The temp name a blob is written under by process `pid` of this host. */
export function temporaryName(key: string, pid = process.pid): string {
  return `${TEMP_PREFIX}${pid}.${HOST_TAG}-${key}-${randomUUID()}`;
}

function ownerIsGone(tempName: string): boolean {
  const owner = TEMP_OWNER.exec(tempName);
  if (!owner || owner[2] !== HOST_TAG) return false;
  const pid = Number(owner[1]);
  // Our own pid but not one of our uploads: a previous incarnation (containers reuse pids).
  if (pid === process.pid) return !tempsInFlight.has(tempName);
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * Staged uploads as files in one local directory (one machine: API and workers share the disk).
 * A blob appears under its key only once complete and flushed, by rename, so a crash mid-upload
 * leaves at most a temp file that list() ignores and the next init() removes.
 */
export class DirectoryBlobStore implements BlobStore {
  readonly kind = 'directory';
  readonly directory: string;

  constructor(directory: string) {
    this.directory = path.resolve(directory);
  }

  async init(): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const now = Date.now();
    for (const name of await readdir(this.directory)) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const file = path.join(this.directory, name);
      const info = await stat(file).catch(() => undefined);
      if (info && (ownerIsGone(name) || now - info.mtimeMs > STALE_TEMP_MS)) await rm(file, { force: true });
    }
  }

  async put(
    key: string,
    input: Readable,
    options: { maxBytes: number; allowEmpty?: boolean },
  ): Promise<StagedBlob> {
    assertBlobKey(key);
    const temp = path.join(this.directory, temporaryName(key));
    const limit = stagingLimit(options);
    tempsInFlight.add(path.basename(temp));
    try {
      // flush: fsync before close, so the renamed file holds every byte even after a power loss.
      await pipeline(input, limit, createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true }));
      await rename(temp, this.#path(key));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    } finally {
      tempsInFlight.delete(path.basename(temp));
    }
    return { key, size: limit.bytes, sha256: limit.sha256() };
  }

  async open(key: string): Promise<Readable> {
    assertBlobKey(key);
    try {
      const handle = await open(this.#path(key), 'r');
      return handle.createReadStream();
    } catch (error) {
      if (isMissing(error)) {
        throw new ScanGateError('object_not_found', `staged blob ${key} does not exist`, { cause: error });
      }
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    // A blob is one plain file: unlink is one call, where rm() first stats it to choose a way.
    await unlink(this.#path(key)).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.directory);
    return names.filter(isBlobKey).sort();
  }

  #path(key: string): string {
    return path.join(this.directory, key);
  }
}

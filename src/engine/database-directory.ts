import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { shippedSignatureFileNames } from './shipped-signatures.ts';

/** Files clamd loads from its DatabaseDirectory (libclamav's CLI_DBEXT list, the common part). */
export const SIGNATURE_FILE =
  /\.(cvd|cld|cud|ndb|ndu|hdb|hdu|hsb|hsu|mdb|mdu|msb|msu|ldb|ldu|idb|cdb|crb|cbc|pdb|gdb|wdb|ftm|ign|ign2|fp|sfp|info|cat|yar|yara|pwdb|imp|cfg)$/;

export interface DatabaseFile {
  name: string;
  size: number;
  mtimeMs: number;
}

/**
 * The signature files in `dir` (empty when it does not exist), sorted by name. scangate's own
 * shipped files (shipped-signatures.ts) are left out: alone they are no database (they detect no
 * malware), so they must never make clamd start or look loaded.
 */
export async function databaseFiles(dir: string): Promise<DatabaseFile[]> {
  const shipped = new Set(shippedSignatureFileNames());
  const names = (await readdir(dir).catch(() => [] as string[])).filter(
    (name) => SIGNATURE_FILE.test(name) && !shipped.has(name),
  );
  const files: DatabaseFile[] = [];
  for (const name of names.sort()) {
    try {
      const info = await stat(path.join(dir, name));
      if (info.isFile()) files.push({ name, size: info.size, mtimeMs: info.mtimeMs });
    } catch {
      // Replaced while we looked (freshclam renames into place): the next look sees the new one.
    }
  }
  return files;
}

/**
 * A short digest of what the directory holds (names, sizes, modification times): it changes
 * whenever freshclam, an operator or scangate itself adds, replaces or removes a signature file,
 * including files that do not change clamd's reported database version (custom .ndb, .hdb…).
 */
export function databaseFingerprint(files: DatabaseFile[]): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file.name}\0${file.size}\0${Math.trunc(file.mtimeMs)}\n`);
  return hash.digest('hex').slice(0, 16);
}

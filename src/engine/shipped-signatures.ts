import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatProbeSignature } from './format-probe.ts';
import { unsupportedFormatSignatures } from './unsupported-formats.ts';

/**
 * A signature file scangate ships and loads next to whatever database clamd uses (official or the
 * offline test one). Each idea that needs clamd to match something at every depth it unpacks
 * adds its file to `shippedSignatureFiles()`; the loading below is the same for all of them.
 */
export interface ShippedSignatureFile {
  /** File name in clamd's DatabaseDirectory; the extension tells clamd the format (.ndb, .hdb, .ldb…). */
  name: string;
  content: string;
}

export function shippedSignatureFiles(): ShippedSignatureFile[] {
  return [
    { name: 'scangate-unsupported-formats.ndb', content: unsupportedFormatSignatures() },
    { name: 'scangate-format-probe.hdb', content: formatProbeSignature() },
  ];
}

/** Changes whenever a shipped file changes: part of the verdict-cache key (see ClamdPool). */
export function shippedSignaturesDigest(files = shippedSignatureFiles()): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file.name}\0${file.content}\0`);
  return hash.digest('hex').slice(0, 12);
}

/** Writes the files into `dir`, each renamed into place so a running clamd never reads half a file. */
export async function writeShippedSignatures(dir: string, files = shippedSignatureFiles()): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const file of files) {
    const partial = path.join(dir, `.${file.name}.partial-${process.pid}`);
    await writeFile(partial, file.content);
    await rename(partial, path.join(dir, file.name));
  }
}

/**
 * The DatabaseDirectory for a managed clamd, holding the shipped files. clamd takes a single
 * directory: when scangate owns the chosen one (under its data directory) the files are written
 * into it; otherwise (the system's freshclam directory) `linkedDir` is filled with a symlink to
 * each database file there plus the shipped files, so the official files stay where freshclam
 * updates them (clamd follows the links, and a replaced file is seen by its SelfCheck/RELOAD).
 */
export async function databaseDirectoryWithShippedSignatures(
  chosenDir: string,
  options: { ownedRoot: string; linkedDir: string; files?: ShippedSignatureFile[] },
): Promise<string> {
  const files = options.files ?? shippedSignatureFiles();
  const relative = path.relative(path.resolve(options.ownedRoot), path.resolve(chosenDir));
  if (!relative.startsWith('..') && !path.isAbsolute(relative)) {
    await writeShippedSignatures(chosenDir, files);
    return chosenDir;
  }
  const shipped = new Set(files.map((file) => file.name));
  await mkdir(options.linkedDir, { recursive: true });
  for (const name of await readdir(options.linkedDir)) {
    const entry = path.join(options.linkedDir, name);
    if ((await lstat(entry)).isSymbolicLink() || !shipped.has(name)) await rm(entry, { force: true });
  }
  for (const name of await readdir(chosenDir)) {
    if (shipped.has(name) || name.startsWith('.')) continue;
    const target = path.join(path.resolve(chosenDir), name);
    if (!(await lstat(target)).isFile() && !(await isLinkToFile(target))) continue;
    await symlink(target, path.join(options.linkedDir, name));
  }
  await writeShippedSignatures(options.linkedDir, files);
  return options.linkedDir;
}

async function isLinkToFile(entry: string): Promise<boolean> {
  try {
    await readlink(entry);
    return true;
  } catch {
    return false;
  }
}

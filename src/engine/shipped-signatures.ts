import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
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
  const [formats, probe] = shippedSignatureFileNames() as [string, string];
  return [
    { name: formats, content: unsupportedFormatSignatures() },
    { name: probe, content: formatProbeSignature() },
  ];
}

/** The file names alone (cheap: no signature text is built). */
export function shippedSignatureFileNames(): string[] {
  return ['scangate-unsupported-formats.ndb', 'scangate-format-probe.hdb'];
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
    // An unchanged file is left alone: its modification time is part of directory fingerprints.
    const current = await readFile(path.join(dir, file.name), 'utf8').catch(() => undefined);
    if (current === file.content) continue;
    const partial = path.join(dir, `.${file.name}.partial-${process.pid}`);
    await writeFile(partial, file.content);
    await rename(partial, path.join(dir, file.name));
  }
}

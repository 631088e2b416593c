/**
 * Writes the offline test signature database (EICAR + clamav-testfiles) into a directory, unless it
 * already holds the current one. Usage: node scripts/write-signatures.ts DIR [--force] [--quiet]
 * With --shipped, writes only the signature files scangate ships (blind formats, …) into DIR: for
 * the DatabaseDirectory of a clamd you run yourself (CLAMD_ADDRESS); RELOAD it afterwards.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { shippedSignatureFiles, writeShippedSignatures } from '../src/engine/shipped-signatures.ts';
import { ensureOfflineSignatures, writeOfflineSignatures } from '../src/engine/signatures.ts';

const args = process.argv.slice(2);
const dir = args.find((arg) => !arg.startsWith('--'));
if (!dir) {
  console.error('usage: node scripts/write-signatures.ts DIR [--force] [--quiet]');
  process.exit(2);
}
const target = path.resolve(dir);
if (args.includes('--shipped')) {
  await writeShippedSignatures(target);
  const names = shippedSignatureFiles().map((file) => file.name);
  console.log(`signatures: wrote ${names.join(', ')} into ${target}`);
  process.exit(0);
}
let wrote = true;
if (args.includes('--force')) await writeOfflineSignatures(target);
else wrote = await ensureOfflineSignatures(target);

if (!args.includes('--quiet') || wrote) {
  const stamp = JSON.parse(await readFile(path.join(target, '.scangate-signatures.json'), 'utf8'));
  const packing =
    stamp.packing === 'cud' ? `daily.cud version ${stamp.cvdVersion}` : 'plain .ndb/.hdb (sigtool failed)';
  console.log(`signatures: ${wrote ? 'wrote' : 'up to date in'} ${target} (${packing})`);
}

// Whether dist/ holds a build of the current sources. Plain JavaScript without dependencies: the CLI
// (bin/scangate.js) asks it before every start, and an image ships dist/ without the sources.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const DIST = path.join(ROOT, 'dist');
/** Written last by scripts/build.ts: the fingerprint of the inputs the build was made from. */
export const STAMP = path.join(DIST, 'build-stamp.json');

/** Everything a build is made of: the TypeScript sources and assets, the compiler settings, package.json. */
const INPUT_DIRS = ['src', 'packages/client/src'];
const INPUT_FILES = ['package.json', 'tsconfig.json', 'scripts/build.ts'];

/**
 * Newest modification time and number of the input files: an edit raises the first (git checkout
 * sets the time of the files it writes), a deleted or added file changes the second.
 */
export function sourceFingerprint(root = ROOT) {
  let newestMs = 0;
  let files = 0;
  const visit = (file) => {
    const stats = statSync(file, { throwIfNoEntry: false });
    if (!stats) return;
    if (stats.isDirectory()) {
      for (const entry of readdirSync(file)) visit(path.join(file, entry));
      return;
    }
    files++;
    newestMs = Math.max(newestMs, Math.trunc(stats.mtimeMs));
  };
  for (const input of [...INPUT_DIRS, ...INPUT_FILES]) visit(path.join(root, input));
  return { newestMs, files };
}

/**
 * 'fresh': dist/ was built from the sources as they are (or there are no sources, as in the image).
 * 'stale': the sources changed since. 'missing': no complete build.
 */
export function buildState(root = ROOT) {
  const stampFile = path.join(root, 'dist', 'build-stamp.json');
  if (!existsSync(stampFile)) return 'missing';
  if (!existsSync(path.join(root, 'src'))) return 'fresh';
  const stamp = JSON.parse(readFileSync(stampFile, 'utf8'));
  const now = sourceFingerprint(root);
  return stamp.newestMs === now.newestMs && stamp.files === now.files ? 'fresh' : 'stale';
}

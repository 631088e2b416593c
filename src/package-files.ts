import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The files scangate reads at run time (SQL migrations, the dashboard's assets, package.json, the
 * store threads' scripts), found from the package root: the repository when running the sources,
 * dist/ when running the build (scripts/build.ts copies them there in the sources' layout). The
 * build bundles the code into a few files, so a module's own location says nothing about where
 * these live; the nearest package.json above it does.
 */
function findPackageRoot(): string {
  let directory = import.meta.dirname;
  while (!existsSync(path.join(directory, 'package.json'))) {
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error(`no package.json above ${import.meta.dirname}`);
    directory = parent;
  }
  return directory;
}

const PACKAGE_ROOT = findPackageRoot();

/** The extension of scangate's own modules: .ts from the sources, .js from the build. */
export const MODULE_EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** A path below the package root, in the sources' layout: `packageFile('src/web')`. */
export function packageFile(relative: string): string {
  return path.join(PACKAGE_ROOT, relative);
}

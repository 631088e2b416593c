/**
 * `npm run build`: compiles src/ and the client package to JavaScript in dist/ (tsc with
 * tsconfig.build.json, which rewrites the .ts import extensions to .js) and copies what the code
 * reads beside itself at run time (the SQL migrations, the dashboard's static files). Production
 * (`npm start`, the image) runs dist/; development and the tests run the TypeScript sources.
 * Usage: node scripts/build.ts [--if-stale] [--quiet]
 */
import { spawnSync } from 'node:child_process';
import { cp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildState, DIST, ROOT, STAMP, sourceFingerprint } from '../bin/build-state.js';

const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const say = (message: string) => {
  if (!quiet) console.error(`build: ${message}`);
};

/** Files the code opens relative to its own location (import.meta.dirname), copied to the same place. */
async function copyAssets(out: string): Promise<void> {
  await cp(path.join(ROOT, 'src/web'), path.join(out, 'src/web'), { recursive: true });
  for (const dialect of await readdir(path.join(ROOT, 'src/store'), { withFileTypes: true })) {
    const migrations = path.join(ROOT, 'src/store', dialect.name, 'migrations');
    if (!dialect.isDirectory()) continue;
    await cp(migrations, path.join(out, 'src/store', dialect.name, 'migrations'), {
      recursive: true,
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
}

/**
 * dist/package.json: the package scope of the compiled files. `scangate/client` imported from dist/
 * resolves through it to the compiled client (a self-reference resolves in the nearest package.json),
 * and src/version.ts reads the version from it as it reads the root package.json in development.
 */
async function writeDistPackage(out: string): Promise<void> {
  const root = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  const distPackage = {
    name: root.name,
    version: root.version,
    private: true,
    type: 'module',
    exports: { './client': './packages/client/src/index.js' },
  };
  await writeFile(path.join(out, 'package.json'), `${JSON.stringify(distPackage, null, 2)}\n`);
}

async function build(): Promise<void> {
  const started = performance.now();
  // Taken before compiling: a source edited during the build leaves the build stale, not stamped fresh.
  const fingerprint = sourceFingerprint();
  // Built beside and swapped in: a `scangate` started meanwhile finds a complete build or none (and
  // then runs the sources), never half of one.
  const out = `${DIST}.building-${process.pid}`;
  await rm(out, { recursive: true, force: true });
  try {
    const tsc = path.join(ROOT, 'node_modules/.bin/tsc');
    // With this Node (the pinned 24), not whichever `node` is first on PATH.
    const compiled = spawnSync(
      process.execPath,
      [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', out],
      { stdio: 'inherit' },
    );
    if (compiled.error)
      throw new Error(`could not run ${tsc} (npm install first): ${compiled.error.message}`);
    if (compiled.status !== 0) throw new Error(`tsc failed (exit ${compiled.status})`);
    await copyAssets(out);
    await writeDistPackage(out);
    await writeFile(path.join(out, path.relative(DIST, STAMP)), `${JSON.stringify(fingerprint)}\n`);
    await rm(DIST, { recursive: true, force: true });
    await rename(out, DIST);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
  say(`dist/ built in ${Math.round(performance.now() - started)} ms`);
}

const state = buildState();
if (args.has('--if-stale') && state === 'fresh') say('dist/ is up to date');
else {
  if (state !== 'missing') say(`dist/ is ${state}: building`);
  await build();
}

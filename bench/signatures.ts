import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { access, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** The sizes the generator is run with (its defaults, written out: they are part of the cache key). */
const GENERATOR_SIZES = { HDB: '3000000', HSB: '2000000', MDB: '2500000', NDB: '100000', LDB: '20000' };

/**
 * The generator's version: a hash of its script and the scripts beside it (it calls
 * make-test-sigdb.sh) and of the sizes asked for. A changed generator writes a new database.
 */
async function generatorVersion(generator: string): Promise<string> {
  const hash = createHash('sha256');
  const dir = path.dirname(generator);
  for (const name of (await readdir(dir)).filter((file) => file.endsWith('.sh')).sort())
    hash.update(name).update(await readFile(path.join(dir, name)));
  hash.update(JSON.stringify(GENERATOR_SIZES));
  return hash.digest('hex').slice(0, 16);
}

/**
 * The synthetic full-size database (make-synthetic-sigdb.sh: ~7.5 M hashes, 100 k body patterns,
 * 20 k logical signatures, the test signatures), generated once into `cacheDir/sigdb/<version>`
 * (about a minute and 500 MB) and reused by every later run. Answers its directory.
 */
export async function syntheticDatabase(
  generator: string,
  cacheDir: string,
  log: (message: string) => void,
): Promise<string> {
  await access(generator).catch(() => {
    throw new Error(
      `the full database needs ${generator} (--sigdb-generator or SCANGATE_SIGDB_GENERATOR); ` +
        'or run only the test database: --signatures test',
    );
  });
  const version = await generatorVersion(generator);
  const dir = path.join(cacheDir, 'sigdb', version);
  const present = await access(dir).then(
    () => true,
    () => false,
  );
  if (present) {
    log(`full database: ${dir} (cached)`);
    return dir;
  }
  // Written beside and renamed into place: an interrupted generation never passes for a database.
  const partial = `${dir}.partial-${process.pid}`;
  await mkdir(partial, { recursive: true });
  log(`full database: generating into ${dir} (once; about a minute)`);
  const child = spawn('bash', [generator, partial], {
    env: { ...process.env, ...GENERATOR_SIZES },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) {
    await rm(partial, { recursive: true, force: true });
    throw new Error(`${generator} failed (exit ${code}): ${stderr}`);
  }
  await rename(partial, dir);
  return dir;
}

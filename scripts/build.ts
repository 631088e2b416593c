/**
 * `npm run build`: bundles src/ and the client package into a few JavaScript files in dist/ (esbuild)
 * and copies what the code reads at run time (the SQL migrations, the dashboard's static files) in
 * the sources' layout, where src/package-files.ts finds them. Production (`npm start`, the image)
 * runs dist/; development and the tests run the TypeScript sources. Type errors are `npm run lint`'s.
 * Usage: node scripts/build.ts [--if-stale] [--quiet]
 */
import { cp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildState, DIST, ROOT, STAMP, sourceFingerprint } from '../bin/build-state.js';

const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const say = (message: string) => {
  if (!quiet) console.error(`build: ${message}`);
};

/** Files the code opens at run time (src/package-files.ts), copied to the same place below dist/. */
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

/**
 * Every file the runtime starts by path: the CLI, the SQLite store threads' scripts (database.ts
 * starts them by path) and the client package (dist/package.json's `./client`). Each lands at its
 * place in the sources' layout; the code they share goes to dist/chunks/.
 */
const ENTRY_POINTS = [
  'src/cli/main.ts',
  'src/store/sqlite/read-worker.ts',
  'src/store/sqlite/maintenance-worker.ts',
  'packages/client/src/index.ts',
];

/**
 * Left to node_modules: the clients imported only when configured (the S3 SDK, PostgreSQL, Redis),
 * which stay out of memory unless used, and packages that open files beside their own code
 * (pino's transports, the OpenAPI document and its UI).
 */
const NOT_BUNDLED = ['@aws-sdk/*', 'pg', 'ioredis', 'pino', '@fastify/swagger', '@fastify/swagger-ui'];

/**
 * Node modules that bundled packages require at load and use only when configured: fastify requires
 * `https` and `http2` for its TLS and HTTP/2 servers, prom-client `https` for its push gateway. Each
 * costs memory once loaded, used or not (measured in a bare Node 24 that already holds http, crypto,
 * zlib, sqlite and worker_threads: `tls`, which `https` loads, +5.2 MiB RSS; `http2` +2.2 MiB). Their
 * `require` gets an object that loads the module at its first property access (TLS_CERT_FILE set).
 */
const LOADED_ON_FIRST_USE = ['https', 'http2', 'tls'];

const loadOnFirstUse = {
  name: 'load-on-first-use',
  setup(build: import('esbuild').PluginBuild) {
    const names = new RegExp(`^(node:)?(${LOADED_ON_FIRST_USE.join('|')})$`);
    // require() calls of packages only: an ES import of ours would copy every export at once.
    build.onResolve({ filter: names }, (args) =>
      args.kind === 'require-call' && args.importer.includes(`${path.sep}node_modules${path.sep}`)
        ? { path: args.path.replace(/^node:/, ''), namespace: 'load-on-first-use' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'load-on-first-use' }, (args) => ({
      loader: 'js',
      contents: `let loaded;
const real = () => (loaded ??= process.getBuiltinModule('node:${args.path}'));
module.exports = new Proxy({}, {
  get: (_, key) => real()[key],
  has: (_, key) => key in real(),
  ownKeys: () => Reflect.ownKeys(real()),
  getOwnPropertyDescriptor: (_, key) => {
    const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
    return descriptor && { ...descriptor, configurable: true };
  },
});`,
    }));
  },
};

/**
 * Why bundle: the idle service held ~1,500 modules, each with its module record and source; one
 * bundle holds a few. ASCII output (esbuild's default charset) with the license comments in files of
 * their own: Node keeps a source with a single non-ASCII character as a two-byte string, twice its size.
 */
async function bundleSources(out: string): Promise<void> {
  // Imported only to build: `npm start` on a fresh dist/ runs without the dev dependencies.
  const { build: bundle } = await import('esbuild');
  await bundle({
    absWorkingDir: ROOT,
    entryPoints: ENTRY_POINTS,
    outbase: ROOT,
    outdir: out,
    entryNames: '[dir]/[name]',
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    // Dynamic imports (the PostgreSQL store, S3 blobs, bucket scans, CLI commands) stay lazy chunks.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    external: NOT_BUNDLED,
    plugins: [loadOnFirstUse],
    // Bundled CommonJS packages call require() for Node's modules; an ES module has none of its own.
    banner: {
      js: "import { createRequire as __scangateCreateRequire } from 'node:module'; const require = __scangateCreateRequire(import.meta.url);",
    },
    charset: 'ascii',
    legalComments: 'linked',
    minifyWhitespace: true,
    minifySyntax: true,
    // Class and function names as written (error names, logs, stack traces), not the bundle's renames.
    keepNames: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
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
    await bundleSources(out);
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

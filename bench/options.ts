import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** One class of files of the matrix: `count` random files of `bytes` each. */
export interface SizeClass {
  name: string;
  bytes: number;
  count: number;
}

export type Mode = 'raw' | 'sync' | 'async';

/**
 * The database clamd runs on: `test` is the offline test database (a handful of signatures, so
 * scangate's own cost shows), `full` a synthetic one shaped like the official database (what users get).
 */
export type SignatureSet = 'test' | 'full';
export const SIGNATURE_SETS: SignatureSet[] = ['test', 'full'];

export interface BenchOptions {
  /** The matrix runs once per set; the other phases run on the test database. */
  signatures: SignatureSet[];
  /** The matrix on the test database. */
  sizes: SizeClass[];
  /** The matrix on the full database: clamd is far slower there, so fewer files (and no 100 MB class). */
  fullSizes: SizeClass[];
  /** make-synthetic-sigdb.sh, which writes the full database (once, into the cache). */
  sigdbGenerator: string;
  /** Where generated databases are kept between runs. */
  cacheDir: string;
  concurrency: number[];
  modes: Mode[];
  /** Size of the single URL-download file; 0 skips that phase. */
  downloadBytes: number;
  /** Files of each kind in the submit-latency phase; 0 skips it. */
  latencySubmits: number;
  /** Concurrent 100 MB uploads while the service's RSS is sampled; 0 skips that measurement. */
  memoryUploads: number;
  /** Jobs queued (clamd paused) while the service's RSS is measured; 0 skips that measurement. */
  queuedJobs: number;
  /** Seconds the compiled service idles before its RSS is read; 0 skips the idle-RSS phase. */
  idleSeconds: number;
  /** Files in the 50 % repeat (verdict cache) phase; 0 skips it. */
  cacheFiles: number;
  cacheFileBytes: number;
  /** Files of each content kind in the content-policy phase; 0 skips it. */
  policyFiles: number;
  /** 100 KB files per round of the scale-out phase (SQLite vs 2 API + 2 workers on PostgreSQL); 0 skips it. */
  scaleoutFiles: number;
  /** The idle window in which the 2 + 2 processes' PostgreSQL transactions are counted; 0 skips it. */
  scaleoutIdleSeconds: number;
  /** A PostgreSQL server (an existing database to connect to): the scale-out phase creates and drops its own there. */
  postgresUrl: string;
  workerConcurrency: number;
  clamdThreads: number;
  out: string;
  markdown: string;
  /** Where data, clamd and the service live; removed at the end. */
  tempRoot: string;
  cpuProfileDir: string | undefined;
  /** Only re-render the Markdown from the results JSON at `out` (after editing the renderer). */
  rewriteMarkdown: boolean;
  /** NODE_OPTIONS of the service (experiments: heap and GC flags). */
  serviceNodeOptions: string;
  logLevel: string;
  /** The run gives up (and stops everything it started) after this long. */
  timeLimitMs: number;
  command: string;
}

/** The full matrix of the issue: file counts at --files-scale 1. */
const FULL_SIZES: SizeClass[] = [
  { name: '1KB', bytes: KiB, count: 5000 },
  { name: '100KB', bytes: 100 * KiB, count: 1000 },
  { name: '1MB', bytes: MiB, count: 200 },
  { name: '100MB', bytes: 100 * MiB, count: 5 },
];

/** Of the full matrix's file counts, on the full database (clamd answers 1 KB some 6× slower there). */
const FULL_DATABASE_SCALE = 0.2;
const FULL_DATABASE_SIZES = ['1KB', '100KB', '1MB'];

/** The generator of the full database, as this machine keeps it (--sigdb-generator to use another). */
const DEFAULT_SIGDB_GENERATOR = '/work/shared/tools/signatures/make-synthetic-sigdb.sh';

/** The server the tests use (trust auth on loopback); --postgres-url or $SCANGATE_BENCH_POSTGRES_URL for another. */
const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The parts of a run `--phases` picks from; every one by default. */
export const PHASES = [
  'matrix',
  'latency',
  'download',
  'memory',
  'policy',
  'cache',
  'idle',
  'scaleout',
  'full',
] as const;
export type Phase = (typeof PHASES)[number];

export const USAGE = `npm run bench -- [options]

  --signatures LIST     test,full (default both): the matrix on the offline test database (scangate's
                        own cost) and on a synthetic database shaped like the official one (~1 GiB in
                        clamd, generated once into the cache); the other phases use the test database
  --quick               1KB,100KB,1MB at concurrency 1,4 with a tenth of the files, a 100 MB
                        download, small latency, memory and cache phases (a few minutes)
  --sizes LIST          size classes to run: 1KB,100KB,1MB,100MB (default all; on the full database
                        1KB,100KB,1MB)
  --full-files-scale N  file counts on the full database, of the test database's (default 0.2)
  --sigdb-generator SH  make-synthetic-sigdb.sh (default ${DEFAULT_SIGDB_GENERATOR},
                        or $SCANGATE_SIGDB_GENERATOR)
  --cache-dir DIR       generated databases (default $XDG_CACHE_HOME or ~/.cache, /scangate-bench)
  --concurrency LIST    client concurrencies (default 1,4,16)
  --modes LIST          raw,sync,async (default all)
  --files-scale N       multiply every file count by N (at least 1 file each)
  --download-size SIZE  the URL-download file (default 1GB; 0 skips; e.g. 100MB)
  --latency-submits N   submits of each kind while the workers are saturated (default 300; 0 skips)
  --memory-uploads N    concurrent 100 MB uploads while the service's RSS is sampled (default 16; 0 skips)
  --queued-jobs N       jobs queued behind a paused clamd while the RSS is read (default 1000; 0 skips)
  --idle-seconds N      idle time before the compiled service's RSS is read (default 20; 0 skips)
  --cache-files N       files of the 50 % repeat workload (default 1000; 0 skips)
  --policy-files N      100 KB files per content kind in the content-policy phase (default 400; 0 skips)
  --scaleout-files N    100 KB files per round of the scale-out phase: one process on SQLite against
                        2 API + 2 worker processes on a fresh PostgreSQL database, the same scan slots
                        (default 1000; 0 skips)
  --scaleout-idle-seconds N  idle window in which the 2 + 2 processes' PostgreSQL transactions are
                        counted (default 30; 0 skips)
  --postgres-url URL    the PostgreSQL server of the scale-out phase (default ${DEFAULT_POSTGRES_URL},
                        or $SCANGATE_BENCH_POSTGRES_URL); it creates and drops a database of its own
  --phases LIST         run only these: ${PHASES.join(',')} (matrix = the test database's
                        matrix, full = the full database's); e.g. --phases scaleout
  --workers N           WORKER_CONCURRENCY of the service (default 4, the service default)
  --out FILE            results JSON (default bench/results/latest.json)
  --markdown FILE       Markdown report (default BENCHMARKS.md, or FILE.md next to --out)
  --tmp DIR             parent of the temp dir for data, clamd and the service (default os tmpdir)
  --cpu-prof DIR        run the service with node --cpu-prof, profiles into DIR
  --log-level LEVEL     the service's LOG_LEVEL (default warn)
  --service-node-options OPTS  NODE_OPTIONS for the service, e.g. "--max-semi-space-size=2"
  --rewrite-markdown    run nothing: rewrite the Markdown from the results JSON (--out)
  --time-limit MINUTES  give up after this long, stopping everything (default 90)
`;

export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?$/i.exec(text.trim());
  if (!match) throw new Error(`not a size: ${text} (examples: 1KB, 100MB, 1GB)`);
  const unit = (match[2] ?? 'B').toUpperCase();
  const factor = unit === 'GB' ? 1024 * MiB : unit === 'MB' ? MiB : unit === 'KB' ? KiB : 1;
  return Math.round(Number(match[1]) * factor);
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

function positiveInt(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, not ${text}`);
  return value;
}

export function parseOptions(argv: string[], repoRoot: string): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      quick: { type: 'boolean' },
      sizes: { type: 'string' },
      concurrency: { type: 'string' },
      modes: { type: 'string' },
      'files-scale': { type: 'string' },
      signatures: { type: 'string' },
      'full-files-scale': { type: 'string' },
      'sigdb-generator': { type: 'string' },
      'cache-dir': { type: 'string' },
      'memory-uploads': { type: 'string' },
      'queued-jobs': { type: 'string' },
      'idle-seconds': { type: 'string' },
      'download-size': { type: 'string' },
      'latency-submits': { type: 'string' },
      'cache-files': { type: 'string' },
      'policy-files': { type: 'string' },
      'scaleout-files': { type: 'string' },
      'scaleout-idle-seconds': { type: 'string' },
      'postgres-url': { type: 'string' },
      phases: { type: 'string' },
      workers: { type: 'string' },
      out: { type: 'string' },
      markdown: { type: 'string' },
      tmp: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'log-level': { type: 'string' },
      'time-limit': { type: 'string' },
      'service-node-options': { type: 'string' },
      'rewrite-markdown': { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const quick = values.quick === true;
  const scale = Number(values['files-scale'] ?? (quick ? 0.1 : 1));
  if (!(scale > 0)) throw new Error('--files-scale must be a positive number');
  const wanted = values.sizes ? list(values.sizes).map((name) => name.toUpperCase()) : undefined;
  const defaultSizes = quick ? ['1KB', '100KB', '1MB'] : FULL_SIZES.map((size) => size.name);
  const sizes = FULL_SIZES.filter((size) => (wanted ?? defaultSizes).includes(size.name)).map((size) => ({
    ...size,
    count: Math.max(1, Math.round(size.count * scale)),
  }));
  if (wanted && sizes.length !== wanted.length)
    throw new Error(`--sizes takes ${FULL_SIZES.map((size) => size.name).join(',')}`);
  const fullScale = Number(values['full-files-scale'] ?? FULL_DATABASE_SCALE);
  if (!(fullScale > 0)) throw new Error('--full-files-scale must be a positive number');
  const fullSizes = sizes
    .filter((size) => (wanted ? true : FULL_DATABASE_SIZES.includes(size.name)))
    .map((size) => ({ ...size, count: Math.max(1, Math.round(size.count * fullScale)) }));
  const phases = list(values.phases ?? PHASES.join(',')) as Phase[];
  for (const phase of phases)
    if (!PHASES.includes(phase)) throw new Error(`--phases takes ${PHASES.join(',')}`);
  // A phase left out runs as if its size or count were 0.
  const unless = (phase: Phase, value: number) => (phases.includes(phase) ? value : 0);
  const signatures = (list(values.signatures ?? SIGNATURE_SETS.join(',')) as SignatureSet[]).filter((set) =>
    phases.includes(set === 'test' ? 'matrix' : 'full'),
  );
  for (const set of list(values.signatures ?? ''))
    if (!SIGNATURE_SETS.includes(set as SignatureSet))
      throw new Error(`--signatures takes ${SIGNATURE_SETS.join(',')}`);
  const cacheHome = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const concurrency = list(values.concurrency ?? (quick ? '1,4' : '1,4,16')).map((text) =>
    positiveInt(text, '--concurrency'),
  );
  const modes = list(values.modes ?? 'raw,sync,async') as Mode[];
  for (const mode of modes)
    if (!['raw', 'sync', 'async'].includes(mode)) throw new Error(`unknown mode ${mode}`);
  const out = path.resolve(values.out ?? path.join(repoRoot, 'bench/results/latest.json'));
  const markdown =
    values.markdown ??
    (values.out ? `${out.replace(/\.json$/, '')}.md` : path.join(repoRoot, 'BENCHMARKS.md'));
  return {
    signatures,
    sizes,
    fullSizes,
    sigdbGenerator: path.resolve(
      values['sigdb-generator'] ?? (process.env.SCANGATE_SIGDB_GENERATOR || DEFAULT_SIGDB_GENERATOR),
    ),
    cacheDir: path.resolve(values['cache-dir'] ?? path.join(cacheHome, 'scangate-bench')),
    concurrency,
    modes,
    downloadBytes: unless('download', parseSize(values['download-size'] ?? (quick ? '100MB' : '1GB'))),
    latencySubmits: unless(
      'latency',
      positiveInt(values['latency-submits'] ?? (quick ? '60' : '300'), '--latency-submits'),
    ),
    memoryUploads: unless(
      'memory',
      positiveInt(values['memory-uploads'] ?? (quick ? '4' : '16'), '--memory-uploads'),
    ),
    queuedJobs: unless(
      'memory',
      positiveInt(values['queued-jobs'] ?? (quick ? '200' : '1000'), '--queued-jobs'),
    ),
    idleSeconds: unless(
      'idle',
      positiveInt(values['idle-seconds'] ?? (quick ? '5' : '20'), '--idle-seconds'),
    ),
    cacheFiles: unless(
      'cache',
      positiveInt(values['cache-files'] ?? (quick ? '200' : '1000'), '--cache-files'),
    ),
    cacheFileBytes: 100 * KiB,
    policyFiles: unless(
      'policy',
      positiveInt(values['policy-files'] ?? (quick ? '100' : '400'), '--policy-files'),
    ),
    scaleoutFiles: unless(
      'scaleout',
      positiveInt(values['scaleout-files'] ?? (quick ? '200' : '1000'), '--scaleout-files'),
    ),
    scaleoutIdleSeconds: positiveInt(values['scaleout-idle-seconds'] ?? '30', '--scaleout-idle-seconds'),
    postgresUrl: values['postgres-url'] ?? (process.env.SCANGATE_BENCH_POSTGRES_URL || DEFAULT_POSTGRES_URL),
    workerConcurrency: positiveInt(values.workers ?? '4', '--workers'),
    clamdThreads: 8,
    out,
    markdown: path.resolve(markdown),
    tempRoot: values.tmp ?? '',
    cpuProfileDir: values['cpu-prof'] ? path.resolve(values['cpu-prof']) : undefined,
    logLevel: values['log-level'] ?? 'warn',
    serviceNodeOptions: values['service-node-options'] ?? '',
    rewriteMarkdown: values['rewrite-markdown'] === true,
    timeLimitMs: positiveInt(values['time-limit'] ?? '90', '--time-limit') * 60_000,
    command: ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' '),
  };
}

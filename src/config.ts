import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';

const MiB = 1024 * 1024;

/** clamd caps MaxFileSize at 2 GiB − 3 bytes; a larger limit would be silently unscanned bytes. */
export const CLAMD_MAX_FILE_SIZE = 2 * 1024 * MiB - 3;

const Role = Type.Union([Type.Literal('all'), Type.Literal('api'), Type.Literal('worker')]);

/**
 * Where the managed clamd's signatures come from: `freshclam` run by scangate, a `system` directory
 * someone else keeps current, or the offline `test` database (EICAR and ClamAV's test files only:
 * never for production, so only when asked). `auto`: system when it holds a database, else freshclam.
 */
const SignatureMode = Type.Union([
  Type.Literal('auto'),
  Type.Literal('freshclam'),
  Type.Literal('system'),
  Type.Literal('test'),
]);

export const ConfigSchema = Type.Object({
  role: Role,
  dataDir: Type.String({ minLength: 1 }),
  logLevel: Type.Union([
    Type.Literal('fatal'),
    Type.Literal('error'),
    Type.Literal('warn'),
    Type.Literal('info'),
    Type.Literal('debug'),
    Type.Literal('trace'),
    Type.Literal('silent'),
  ]),
  http: Type.Object({
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    /** Node's headersTimeout: a client must send all headers within this time (slowloris). */
    headersTimeoutMs: Type.Integer({ minimum: 1000 }),
    /** Whole-request limit, sized for the largest upload at a slow but honest rate. */
    requestTimeoutMs: Type.Integer({ minimum: 1000 }),
    jsonBodyLimitBytes: Type.Integer({ minimum: 1024 }),
    trustProxy: Type.Boolean(),
  }),
  limits: Type.Object({
    maxFileSizeBytes: Type.Integer({ minimum: 1, maximum: CLAMD_MAX_FILE_SIZE }),
  }),
  engine: Type.Object({
    /** clamd addresses (unix socket path or host:port). Empty: scangate starts and supervises its own clamd. */
    addresses: Type.Array(Type.String({ minLength: 1 })),
    clamdBinary: Type.String({ minLength: 1 }),
    signatureDirs: Type.Array(Type.String({ minLength: 1 })),
    scanTimeoutMs: Type.Integer({ minimum: 1000 }),
    connectTimeoutMs: Type.Integer({ minimum: 100 }),
    healthCheckIntervalMs: Type.Integer({ minimum: 100 }),
    maxThreads: Type.Integer({ minimum: 1, maximum: 64 }),
    clamdNiceness: Type.Integer({ minimum: 0, maximum: 19 }),
    /** What a password-protected archive becomes: clamd's AlertEncrypted treats it as a detection. */
    encryptedVerdict: Type.Union([Type.Literal('unscannable'), Type.Literal('infected')]),
    verdictCache: Type.Boolean(),
  }),
  signatures: Type.Object({
    mode: SignatureMode,
    /** Readiness fails when the loaded database (clamd's VERSION date) is older than this. */
    maxAgeSeconds: Type.Integer({ minimum: 60 }),
    freshclamBinary: Type.String({ minLength: 1 }),
    /** freshclam's DatabaseMirror / PrivateMirror lines; empty uses database.clamav.net. */
    mirrors: Type.Array(Type.String({ minLength: 1 })),
    privateMirrors: Type.Array(Type.String({ minLength: 1 })),
    /** http://[user:password@]host:port of an HTTP proxy for freshclam; empty: direct. */
    proxy: Type.String(),
    /** Extra databases (DatabaseCustomURL), e.g. https://example.org/extra.ndb. */
    customUrls: Type.Array(Type.String({ minLength: 1 })),
    /** Official databases not to download (ExcludeDatabase), e.g. bytecode. */
    excludeDatabases: Type.Array(Type.String({ minLength: 1 })),
    updateIntervalSeconds: Type.Integer({ minimum: 60 }),
  }),
  store: Type.Object({
    /** postgres://… selects the PostgreSQL store; empty uses SQLite in the data directory. */
    databaseUrl: Type.String(),
    poolSize: Type.Integer({ minimum: 1, maximum: 200 }),
  }),
  blobs: Type.Object({
    /** Bucket for staged uploads; empty stages them in <dataDir>/uploads. */
    s3Bucket: Type.String(),
    s3Prefix: Type.String(),
  }),
  s3: Type.Object({
    endpoint: Type.String(),
    region: Type.String({ minLength: 1 }),
    forcePathStyle: Type.Boolean(),
    accessKeyId: Type.String(),
    secretAccessKey: Type.String(),
  }),
  jobs: Type.Object({
    workerConcurrency: Type.Integer({ minimum: 1, maximum: 256 }),
    /** Jobs of one tenant running at once across all workers on the store (0 = no limit). */
    maxRunningPerTenant: Type.Integer({ minimum: 0 }),
    leaseMs: Type.Integer({ minimum: 1000 }),
    maxAttempts: Type.Integer({ minimum: 1, maximum: 100 }),
    retryBaseDelayMs: Type.Integer({ minimum: 10 }),
    retryMaxDelayMs: Type.Integer({ minimum: 10 }),
    pollIntervalMs: Type.Integer({ minimum: 5 }),
    resultRetentionSeconds: Type.Integer({ minimum: 1 }),
    sweepIntervalMs: Type.Integer({ minimum: 100 }),
    shutdownGraceMs: Type.Integer({ minimum: 0 }),
  }),
  network: Type.Object({
    /** CIDRs that downloads and callbacks may reach although they are private or reserved. */
    allowCidrs: Type.Array(Type.String({ minLength: 1 })),
    connectTimeoutMs: Type.Integer({ minimum: 100 }),
    headersTimeoutMs: Type.Integer({ minimum: 100 }),
    bodyIdleTimeoutMs: Type.Integer({ minimum: 100 }),
    downloadTimeoutMs: Type.Integer({ minimum: 100 }),
    /** Slowest average download rate accepted over each minRateWindowMs (0 = no floor). */
    minBytesPerSecond: Type.Integer({ minimum: 0 }),
    minRateWindowMs: Type.Integer({ minimum: 100 }),
    maxRedirects: Type.Integer({ minimum: 0, maximum: 20 }),
  }),
  callbacks: Type.Object({
    timeoutMs: Type.Integer({ minimum: 100 }),
    /** How long a failing callback keeps being retried before it is marked failed. */
    maxAgeSeconds: Type.Integer({ minimum: 1 }),
    retryBaseDelayMs: Type.Integer({ minimum: 10 }),
    retryMaxDelayMs: Type.Integer({ minimum: 10 }),
    /** Secret for Standard Webhooks signatures when an API key has none of its own (whsec_…). */
    signingSecret: Type.String(),
  }),
  auth: Type.Object({
    /** Plain keys, or tenant=key pairs; kept in memory only as SHA-256 digests. */
    apiKeys: Type.Array(Type.String({ minLength: 8 })),
  }),
  rateLimit: Type.Object({
    requestsPerMinute: Type.Integer({ minimum: 0 }),
    maxConcurrentJobsPerKey: Type.Integer({ minimum: 0 }),
    redisUrl: Type.String(),
  }),
});

export type Config = Static<typeof ConfigSchema>;
export type Role = Static<typeof Role>;

type Parser = 'string' | 'int' | 'bool' | 'list' | 'size' | 'duration';
interface EnvVariable {
  name: string;
  path: string;
  parse: Parser;
  description: string;
}

/** Every environment variable scangate reads; the README's configuration table is this list. */
export const ENV_VARIABLES: EnvVariable[] = [
  { name: 'SCANGATE_ROLE', path: 'role', parse: 'string', description: 'all | api | worker' },
  {
    name: 'SCANGATE_DATA_DIR',
    path: 'dataDir',
    parse: 'string',
    description: 'SQLite file, staged uploads, managed clamd',
  },
  { name: 'LOG_LEVEL', path: 'logLevel', parse: 'string', description: 'pino log level' },
  { name: 'HOST', path: 'http.host', parse: 'string', description: 'listen address' },
  { name: 'PORT', path: 'http.port', parse: 'int', description: 'listen port' },
  {
    name: 'HTTP_HEADERS_TIMEOUT_MS',
    path: 'http.headersTimeoutMs',
    parse: 'int',
    description: 'time to receive request headers',
  },
  {
    name: 'HTTP_REQUEST_TIMEOUT_MS',
    path: 'http.requestTimeoutMs',
    parse: 'int',
    description: 'time to receive a whole request',
  },
  {
    name: 'HTTP_JSON_BODY_LIMIT',
    path: 'http.jsonBodyLimitBytes',
    parse: 'size',
    description: 'largest JSON body',
  },
  { name: 'HTTP_TRUST_PROXY', path: 'http.trustProxy', parse: 'bool', description: 'trust X-Forwarded-For' },
  {
    name: 'MAX_FILE_SIZE',
    path: 'limits.maxFileSizeBytes',
    parse: 'size',
    description: 'largest file scanned (e.g. 512M, 1G); larger is unscannable',
  },
  {
    name: 'CLAMD_ADDRESS',
    path: 'engine.addresses',
    parse: 'list',
    description: 'comma-separated clamd addresses (/path.sock or host:port); empty starts a managed clamd',
  },
  {
    name: 'CLAMD_BINARY',
    path: 'engine.clamdBinary',
    parse: 'string',
    description: 'clamd executable for the managed clamd',
  },
  {
    name: 'SIGNATURE_DIRS',
    path: 'engine.signatureDirs',
    parse: 'list',
    description: 'signature directories for the managed clamd',
  },
  {
    name: 'SCAN_TIMEOUT_MS',
    path: 'engine.scanTimeoutMs',
    parse: 'int',
    description: 'longest single clamd scan',
  },
  {
    name: 'CLAMD_CONNECT_TIMEOUT_MS',
    path: 'engine.connectTimeoutMs',
    parse: 'int',
    description: 'clamd connect timeout',
  },
  {
    name: 'CLAMD_HEALTH_INTERVAL_MS',
    path: 'engine.healthCheckIntervalMs',
    parse: 'int',
    description: 'PING interval per clamd',
  },
  {
    name: 'CLAMD_MAX_THREADS',
    path: 'engine.maxThreads',
    parse: 'int',
    description: 'scanner threads of the managed clamd',
  },
  {
    name: 'CLAMD_NICE',
    path: 'engine.clamdNiceness',
    parse: 'int',
    description: 'nice value of the managed clamd, so the API answers first when scans fill the CPU',
  },
  {
    name: 'ENCRYPTED_VERDICT',
    path: 'engine.encryptedVerdict',
    parse: 'string',
    description: 'unscannable | infected for password-protected archives',
  },
  {
    name: 'VERDICT_CACHE',
    path: 'engine.verdictCache',
    parse: 'bool',
    description: 'reuse verdicts for identical bytes and signatures',
  },
  {
    name: 'SIGNATURES',
    path: 'signatures.mode',
    parse: 'string',
    description:
      'auto | freshclam | system | test: where the managed clamd gets signatures (test: offline test database, never for production)',
  },
  {
    name: 'MAX_SIGNATURE_AGE',
    path: 'signatures.maxAgeSeconds',
    parse: 'duration',
    description: 'not ready when the loaded database is older (e.g. 7d, 36h; seconds)',
  },
  {
    name: 'FRESHCLAM_BINARY',
    path: 'signatures.freshclamBinary',
    parse: 'string',
    description: 'freshclam executable for SIGNATURES=freshclam',
  },
  {
    name: 'FRESHCLAM_MIRRORS',
    path: 'signatures.mirrors',
    parse: 'list',
    description: 'DatabaseMirror hosts (empty: database.clamav.net)',
  },
  {
    name: 'FRESHCLAM_PRIVATE_MIRRORS',
    path: 'signatures.privateMirrors',
    parse: 'list',
    description: 'PrivateMirror URLs (your own mirror; replaces the official ones)',
  },
  {
    name: 'FRESHCLAM_PROXY',
    path: 'signatures.proxy',
    parse: 'string',
    description: 'http://[user:password@]host:port proxy for freshclam',
  },
  {
    name: 'FRESHCLAM_CUSTOM_URLS',
    path: 'signatures.customUrls',
    parse: 'list',
    description: 'extra databases to download (DatabaseCustomURL)',
  },
  {
    name: 'FRESHCLAM_EXCLUDE_DATABASES',
    path: 'signatures.excludeDatabases',
    parse: 'list',
    description: 'official databases not to download (ExcludeDatabase: main, daily, bytecode)',
  },
  {
    name: 'FRESHCLAM_INTERVAL',
    path: 'signatures.updateIntervalSeconds',
    parse: 'duration',
    description: 'time between freshclam runs (e.g. 1h; seconds)',
  },
  {
    name: 'DATABASE_URL',
    path: 'store.databaseUrl',
    parse: 'string',
    description: 'postgres://… for scale-out; empty uses SQLite',
  },
  {
    name: 'DATABASE_POOL_SIZE',
    path: 'store.poolSize',
    parse: 'int',
    description: 'PostgreSQL connections per process',
  },
  {
    name: 'BLOB_S3_BUCKET',
    path: 'blobs.s3Bucket',
    parse: 'string',
    description: 'stage uploads in this bucket instead of the data directory',
  },
  {
    name: 'BLOB_S3_PREFIX',
    path: 'blobs.s3Prefix',
    parse: 'string',
    description: 'key prefix for staged uploads',
  },
  {
    name: 'S3_ENDPOINT',
    path: 's3.endpoint',
    parse: 'string',
    description: 'S3-compatible endpoint (MinIO, Ceph, R2); empty is AWS',
  },
  { name: 'S3_REGION', path: 's3.region', parse: 'string', description: 'S3 region' },
  {
    name: 'S3_FORCE_PATH_STYLE',
    path: 's3.forcePathStyle',
    parse: 'bool',
    description: 'path-style bucket addressing',
  },
  {
    name: 'S3_ACCESS_KEY_ID',
    path: 's3.accessKeyId',
    parse: 'string',
    description: 'empty uses the AWS SDK default chain',
  },
  {
    name: 'S3_SECRET_ACCESS_KEY',
    path: 's3.secretAccessKey',
    parse: 'string',
    description: 'secret for S3_ACCESS_KEY_ID',
  },
  {
    name: 'WORKER_CONCURRENCY',
    path: 'jobs.workerConcurrency',
    parse: 'int',
    description: 'jobs scanned at once per worker process',
  },
  {
    name: 'MAX_RUNNING_JOBS_PER_TENANT',
    path: 'jobs.maxRunningPerTenant',
    parse: 'int',
    description:
      "jobs of one tenant scanning at once across all workers (0 = no limit; others' jobs take the rest)",
  },
  {
    name: 'JOB_LEASE_MS',
    path: 'jobs.leaseMs',
    parse: 'int',
    description: 'lease of a running job, renewed by heartbeat',
  },
  {
    name: 'JOB_MAX_ATTEMPTS',
    path: 'jobs.maxAttempts',
    parse: 'int',
    description: 'tries before a job is unscannable',
  },
  {
    name: 'JOB_RETRY_BASE_MS',
    path: 'jobs.retryBaseDelayMs',
    parse: 'int',
    description: 'first retry delay (doubles per try)',
  },
  {
    name: 'JOB_RETRY_MAX_MS',
    path: 'jobs.retryMaxDelayMs',
    parse: 'int',
    description: 'longest retry delay',
  },
  {
    name: 'JOB_POLL_INTERVAL_MS',
    path: 'jobs.pollIntervalMs',
    parse: 'int',
    description: 'idle worker poll interval',
  },
  {
    name: 'RESULT_RETENTION_SECONDS',
    path: 'jobs.resultRetentionSeconds',
    parse: 'int',
    description: 'how long results stay readable',
  },
  {
    name: 'SWEEP_INTERVAL_MS',
    path: 'jobs.sweepIntervalMs',
    parse: 'int',
    description: 'retention sweep interval',
  },
  {
    name: 'SHUTDOWN_GRACE_MS',
    path: 'jobs.shutdownGraceMs',
    parse: 'int',
    description: 'time running jobs get to finish on SIGTERM',
  },
  {
    name: 'NETWORK_ALLOW_CIDRS',
    path: 'network.allowCidrs',
    parse: 'list',
    description: 'private ranges downloads/callbacks may reach (default: none)',
  },
  {
    name: 'DOWNLOAD_CONNECT_TIMEOUT_MS',
    path: 'network.connectTimeoutMs',
    parse: 'int',
    description: 'download/callback connect timeout',
  },
  {
    name: 'DOWNLOAD_HEADERS_TIMEOUT_MS',
    path: 'network.headersTimeoutMs',
    parse: 'int',
    description: 'time to response headers',
  },
  {
    name: 'DOWNLOAD_BODY_TIMEOUT_MS',
    path: 'network.bodyIdleTimeoutMs',
    parse: 'int',
    description: 'longest silence while reading a body',
  },
  {
    name: 'DOWNLOAD_TIMEOUT_MS',
    path: 'network.downloadTimeoutMs',
    parse: 'int',
    description: 'whole download deadline',
  },
  {
    name: 'DOWNLOAD_MIN_BYTES_PER_SECOND',
    path: 'network.minBytesPerSecond',
    parse: 'int',
    description: 'slowest average download rate accepted (0 = off); slower is a final download_timeout',
  },
  {
    name: 'DOWNLOAD_MIN_RATE_WINDOW_MS',
    path: 'network.minRateWindowMs',
    parse: 'int',
    description: 'window the minimum download rate is averaged over',
  },
  {
    name: 'DOWNLOAD_MAX_REDIRECTS',
    path: 'network.maxRedirects',
    parse: 'int',
    description: 'redirect hops followed, each checked again',
  },
  {
    name: 'CALLBACK_TIMEOUT_MS',
    path: 'callbacks.timeoutMs',
    parse: 'int',
    description: 'one callback attempt',
  },
  {
    name: 'CALLBACK_MAX_AGE_SECONDS',
    path: 'callbacks.maxAgeSeconds',
    parse: 'int',
    description: 'retry a failing callback this long',
  },
  {
    name: 'CALLBACK_RETRY_BASE_MS',
    path: 'callbacks.retryBaseDelayMs',
    parse: 'int',
    description: 'first callback retry delay',
  },
  {
    name: 'CALLBACK_RETRY_MAX_MS',
    path: 'callbacks.retryMaxDelayMs',
    parse: 'int',
    description: 'longest callback retry delay',
  },
  {
    name: 'CALLBACK_SIGNING_SECRET',
    path: 'callbacks.signingSecret',
    parse: 'string',
    description: 'whsec_… default signing secret',
  },
  {
    name: 'API_KEYS',
    path: 'auth.apiKeys',
    parse: 'list',
    description: 'comma-separated keys or tenant=key pairs',
  },
  {
    name: 'RATE_LIMIT_PER_MINUTE',
    path: 'rateLimit.requestsPerMinute',
    parse: 'int',
    description: 'requests per key per minute (0 = off)',
  },
  {
    name: 'MAX_CONCURRENT_JOBS_PER_KEY',
    path: 'rateLimit.maxConcurrentJobsPerKey',
    parse: 'int',
    description: 'pending jobs per key (0 = off)',
  },
  {
    name: 'REDIS_URL',
    path: 'rateLimit.redisUrl',
    parse: 'string',
    description: 'shared rate-limit store for several API nodes',
  },
];

export function defaultConfig(dataDir = path.resolve('data')): Config {
  return {
    role: 'all',
    dataDir,
    logLevel: 'info',
    http: {
      host: '127.0.0.1',
      port: 8080,
      headersTimeoutMs: 15_000,
      requestTimeoutMs: 30 * 60_000,
      jsonBodyLimitBytes: 64 * 1024,
      trustProxy: false,
    },
    limits: { maxFileSizeBytes: 1024 * MiB },
    engine: {
      addresses: [],
      clamdBinary: '/usr/sbin/clamd',
      signatureDirs: [],
      scanTimeoutMs: 300_000,
      connectTimeoutMs: 2_000,
      healthCheckIntervalMs: 2_000,
      maxThreads: 8,
      clamdNiceness: 10,
      encryptedVerdict: 'unscannable',
      verdictCache: true,
    },
    signatures: {
      mode: 'auto',
      maxAgeSeconds: 7 * 24 * 3600,
      freshclamBinary: '/usr/bin/freshclam',
      mirrors: [],
      privateMirrors: [],
      proxy: '',
      customUrls: [],
      excludeDatabases: [],
      updateIntervalSeconds: 3600,
    },
    store: { databaseUrl: '', poolSize: 10 },
    blobs: { s3Bucket: '', s3Prefix: 'uploads/' },
    s3: { endpoint: '', region: 'us-east-1', forcePathStyle: false, accessKeyId: '', secretAccessKey: '' },
    jobs: {
      workerConcurrency: 4,
      maxRunningPerTenant: 0,
      leaseMs: 30_000,
      maxAttempts: 5,
      retryBaseDelayMs: 1_000,
      retryMaxDelayMs: 5 * 60_000,
      pollIntervalMs: 50,
      resultRetentionSeconds: 24 * 3600,
      sweepIntervalMs: 60_000,
      shutdownGraceMs: 10_000,
    },
    network: {
      allowCidrs: [],
      connectTimeoutMs: 5_000,
      headersTimeoutMs: 30_000,
      bodyIdleTimeoutMs: 30_000,
      downloadTimeoutMs: 30 * 60_000,
      minBytesPerSecond: 10 * 1024,
      minRateWindowMs: 30_000,
      maxRedirects: 5,
    },
    callbacks: {
      timeoutMs: 15_000,
      maxAgeSeconds: 24 * 3600,
      retryBaseDelayMs: 5_000,
      retryMaxDelayMs: 2 * 3600_000,
      signingSecret: '',
    },
    auth: { apiKeys: [] },
    rateLimit: { requestsPerMinute: 0, maxConcurrentJobsPerKey: 0, redisUrl: '' },
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: MiB, G: 1024 * MiB };

export function parseSize(text: string): number {
  const match = /^\s*(\d+)\s*([KMG]?)i?B?\s*$/i.exec(text);
  if (!match) throw new ConfigError(`"${text}" is not a size (examples: 1048576, 512K, 100M, 1G)`);
  return Number(match[1]) * (SIZE_UNITS[match[2]!.toUpperCase()] ?? 1);
}

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 24 * 3600 };

/** Seconds from `604800`, `90s`, `30m`, `12h` or `7d`. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(text);
  if (!match) throw new ConfigError(`"${text}" is not a duration (examples: 3600, 30m, 12h, 7d)`);
  return Number(match[1]) * DURATION_UNITS[match[2]!.toLowerCase()]!;
}

function parseEnvValue(variable: EnvVariable, raw: string): unknown {
  switch (variable.parse) {
    case 'string':
      return raw;
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${variable.name}="${raw}" is not an integer`);
      return Number(raw);
    }
    case 'bool': {
      const value = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(value)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(value)) return false;
      throw new ConfigError(`${variable.name}="${raw}" is not a boolean (true/false)`);
    }
    case 'list':
      return raw
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0);
    case 'size':
      try {
        return parseSize(raw);
      } catch (error) {
        throw new ConfigError(`${variable.name}: ${(error as Error).message}`);
      }
    case 'duration':
      try {
        return parseDuration(raw);
      } catch (error) {
        throw new ConfigError(`${variable.name}: ${(error as Error).message}`);
      }
  }
}

function setPath(target: Record<string, unknown>, dottedPath: string, value: unknown): void {
  const keys = dottedPath.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys.at(-1)!] = value;
}

function deepMerge(
  base: Record<string, unknown>,
  override: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    const bothObjects =
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      typeof current === 'object' &&
      current !== null;
    merged[key] = bothObjects
      ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
      : value;
  }
  return merged;
}

/**
 * Builds the one typed config: defaults, then the optional JSON file (SCANGATE_CONFIG), then the
 * environment, then explicit overrides (tests, CLI flags). Fails with every problem listed.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Record<string, unknown> = {},
): Config {
  const dataDir = path.resolve(env.SCANGATE_DATA_DIR || 'data');
  let merged = defaultConfig(dataDir) as unknown as Record<string, unknown>;
  if (env.SCANGATE_CONFIG) {
    let fileContent: unknown;
    try {
      fileContent = JSON.parse(readFileSync(env.SCANGATE_CONFIG, 'utf8'));
    } catch (error) {
      throw new ConfigError(`cannot read config file ${env.SCANGATE_CONFIG}: ${(error as Error).message}`);
    }
    merged = deepMerge(merged, fileContent as Record<string, unknown>);
  }
  const fromEnv: Record<string, unknown> = {};
  for (const variable of ENV_VARIABLES) {
    const raw = envValue(env, variable.name);
    if (raw !== undefined && raw !== '') setPath(fromEnv, variable.path, parseEnvValue(variable, raw));
  }
  merged = deepMerge(deepMerge(merged, fromEnv), overrides);
  const problems = [...Value.Errors(ConfigSchema, merged)].map(
    (error) => `${error.instancePath.slice(1).replaceAll('/', '.') || '(root)'}: ${error.message}`,
  );
  const config = merged as unknown as Config;
  if (problems.length === 0) problems.push(...crossFieldProblems(config));
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return config;
}

/**
 * `NAME`, or the content of the file named by `NAME_FILE` (Docker and Kubernetes secrets are files):
 * one trailing newline is dropped. Setting both is an error, never a silent choice.
 */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return env[name];
  if (env[name] !== undefined && env[name] !== '')
    throw new ConfigError(`set ${name} or ${name}_FILE, not both`);
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new ConfigError(`${name}_FILE: cannot read ${file}: ${(error as Error).message}`);
  }
}

function crossFieldProblems(config: Config): string[] {
  const problems: string[] = [];
  if (config.jobs.retryMaxDelayMs < config.jobs.retryBaseDelayMs)
    problems.push('jobs.retryMaxDelayMs must be >= jobs.retryBaseDelayMs');
  if (config.store.databaseUrl && !/^postgres(ql)?:\/\//.test(config.store.databaseUrl))
    problems.push('store.databaseUrl must start with postgres:// (or be empty for SQLite)');
  if (config.role !== 'all' && !config.store.databaseUrl)
    problems.push(`role "${config.role}" needs a shared database: set DATABASE_URL`);
  if (config.callbacks.signingSecret && !config.callbacks.signingSecret.startsWith('whsec_'))
    problems.push('callbacks.signingSecret must be a Standard Webhooks secret (whsec_<base64>)');
  if (config.signatures.proxy && !/^https?:\/\/[^/]+:\d+\/?$/.test(config.signatures.proxy))
    problems.push('signatures.proxy must look like http://[user:password@]host:port');
  for (const cidr of config.network.allowCidrs) {
    if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(cidr)) problems.push(`network.allowCidrs: "${cidr}" is not a CIDR`);
    if (/^(0\.0\.0\.0|::)\/0$/.test(cidr))
      problems.push(`network.allowCidrs: "${cidr}" would disable SSRF protection`);
  }
  return problems;
}

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Static, type TSchema, Type } from 'typebox';
import { Value } from 'typebox/value';
import { messageOf } from './errors.ts';

const MiB = 1024 * 1024;

/** clamd caps MaxFileSize at 2 GiB − 3 bytes; a larger limit would be silently unscanned bytes. */
export const CLAMD_MAX_FILE_SIZE = 2 * 1024 * MiB - 3;

/*
 * Every option is declared once, here: its type and bounds, its `default`, the environment
 * variable that sets it (`env`), and what it means (`description`). The defaults (defaultConfig),
 * the list of environment variables (ENV_VARIABLES) and the README's configuration table
 * (scripts/config-table.ts) are all derived from this schema. `parse` marks the options written as
 * sizes (512M, 1G) or durations (30m, 7d); every other option is read by its type.
 */

const Role = Type.Union([Type.Literal('all'), Type.Literal('api'), Type.Literal('worker')], {
  default: 'all',
  env: 'SCANGATE_ROLE',
  description: 'all | api | worker',
});

/**
 * Where the managed clamd's signatures come from: `freshclam` run by scangate, a `system` directory
 * someone else keeps current, or the offline `test` database (EICAR and ClamAV's test files only:
 * never for production, so only when asked). `auto`: system when it holds a database, else freshclam.
 */
const SignatureMode = Type.Union(
  [Type.Literal('auto'), Type.Literal('freshclam'), Type.Literal('system'), Type.Literal('test')],
  {
    default: 'auto',
    env: 'SIGNATURES',
    description:
      'auto | freshclam | system | test: where the managed clamd gets signatures (test: offline test database, never for production)',
  },
);

/** A group of options: its defaults come from its members. */
const group = <T extends Record<string, TSchema>>(properties: T) => Type.Object(properties, { default: {} });

export const ConfigSchema = Type.Object({
  role: Role,
  /** No static default: resolved against the working directory when the config is loaded. */
  dataDir: Type.String({
    minLength: 1,
    env: 'SCANGATE_DATA_DIR',
    description: 'SQLite file, staged uploads, managed clamd',
  }),
  logLevel: Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { default: 'info', env: 'LOG_LEVEL', description: 'pino log level' },
  ),
  http: group({
    host: Type.String({ minLength: 1, default: '127.0.0.1', env: 'HOST', description: 'listen address' }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 8080,
      env: 'PORT',
      description: 'listen port',
    }),
    /** Node's headersTimeout: a client must send all headers within this time (slowloris). */
    headersTimeoutMs: Type.Integer({
      minimum: 1000,
      default: 15_000,
      env: 'HTTP_HEADERS_TIMEOUT_MS',
      description: 'time to receive request headers',
    }),
    /** Whole-request limit, sized for the largest upload at a slow but honest rate. */
    requestTimeoutMs: Type.Integer({
      minimum: 1000,
      default: 30 * 60_000,
      env: 'HTTP_REQUEST_TIMEOUT_MS',
      description: 'time to receive a whole request',
    }),
    jsonBodyLimitBytes: Type.Integer({
      minimum: 1024,
      default: 64 * 1024,
      env: 'HTTP_JSON_BODY_LIMIT',
      parse: 'size',
      description: 'largest JSON body',
    }),
    trustProxy: Type.Boolean({
      default: false,
      env: 'HTTP_TRUST_PROXY',
      description: 'trust X-Forwarded-For, -Proto and -Host',
    }),
    /** Base of the absolute URLs scangate hands out (Location); empty derives it from the request. */
    publicUrl: Type.String({
      default: '',
      env: 'PUBLIC_URL',
      description:
        'base of absolute URLs handed out (e.g. https://scan.example.com); empty uses the request Host',
    }),
    /** PEM certificate chain and key: when both are set the API serves HTTPS with HTTP/2 and HTTP/1.1 (ALPN). */
    tlsCertFile: Type.String({
      default: '',
      env: 'TLS_CERT_FILE',
      description: 'PEM certificate chain: with TLS_KEY_FILE serves HTTPS, HTTP/2 and HTTP/1.1',
    }),
    tlsKeyFile: Type.String({ default: '', env: 'TLS_KEY_FILE', description: 'PEM private key' }),
  }),
  limits: group({
    maxFileSizeBytes: Type.Integer({
      minimum: 1,
      maximum: CLAMD_MAX_FILE_SIZE,
      default: 1024 * MiB,
      env: 'MAX_FILE_SIZE',
      parse: 'size',
      description: 'largest file scanned (e.g. 512M, 1G); larger is unscannable',
    }),
  }),
  engine: group({
    /** clamd addresses (unix socket path or host:port). Empty: scangate starts and supervises its own clamd. */
    addresses: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      env: 'CLAMD_ADDRESS',
      description: 'comma-separated clamd addresses (/path.sock or host:port); empty starts a managed clamd',
    }),
    clamdBinary: Type.String({
      minLength: 1,
      default: '/usr/sbin/clamd',
      env: 'CLAMD_BINARY',
      description: 'clamd executable for the managed clamd',
    }),
    signatureDirs: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      env: 'SIGNATURE_DIRS',
      description: 'signature directories for the managed clamd',
    }),
    scanTimeoutMs: Type.Integer({
      minimum: 1000,
      default: 300_000,
      env: 'SCAN_TIMEOUT_MS',
      description: 'longest single clamd scan',
    }),
    connectTimeoutMs: Type.Integer({
      minimum: 100,
      default: 2_000,
      env: 'CLAMD_CONNECT_TIMEOUT_MS',
      description: 'clamd connect timeout',
    }),
    healthCheckIntervalMs: Type.Integer({
      minimum: 100,
      default: 2_000,
      env: 'CLAMD_HEALTH_INTERVAL_MS',
      description: 'PING interval per clamd',
    }),
    maxThreads: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 8,
      env: 'CLAMD_MAX_THREADS',
      description: 'scanner threads of the managed clamd',
    }),
    clamdNiceness: Type.Integer({
      minimum: 0,
      maximum: 19,
      default: 10,
      env: 'CLAMD_NICE',
      description: 'nice value of the managed clamd, so the API answers first when scans fill the CPU',
    }),
    /** What a password-protected archive becomes: clamd's AlertEncrypted treats it as a detection. */
    encryptedVerdict: Type.Union([Type.Literal('unscannable'), Type.Literal('infected')], {
      default: 'unscannable',
      env: 'ENCRYPTED_VERDICT',
      description: 'unscannable | infected for password-protected archives',
    }),
    verdictCache: Type.Boolean({
      default: true,
      env: 'VERDICT_CACHE',
      description: 'reuse verdicts for identical bytes and signatures',
    }),
  }),
  signatures: group({
    mode: SignatureMode,
    /** Readiness fails when the loaded database (clamd's VERSION date) is older than this. */
    maxAgeSeconds: Type.Integer({
      minimum: 60,
      default: 7 * 24 * 3600,
      env: 'MAX_SIGNATURE_AGE',
      parse: 'duration',
      description: 'not ready when the loaded database is older (e.g. 7d, 36h; seconds)',
    }),
    freshclamBinary: Type.String({
      minLength: 1,
      default: '/usr/bin/freshclam',
      env: 'FRESHCLAM_BINARY',
      description: 'freshclam executable for SIGNATURES=freshclam',
    }),
    /** freshclam's DatabaseMirror / PrivateMirror lines; empty uses database.clamav.net. */
    mirrors: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      env: 'FRESHCLAM_MIRRORS',
      description: 'DatabaseMirror hosts (empty: database.clamav.net)',
    }),
    privateMirrors: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      env: 'FRESHCLAM_PRIVATE_MIRRORS',
      description: 'PrivateMirror URLs (your own mirror; replaces the official ones)',
    }),
    /** http://[user:password@]host:port of an HTTP proxy for freshclam; empty: direct. */
    proxy: Type.String({
      default: '',
      env: 'FRESHCLAM_PROXY',
      description: 'http://[user:password@]host:port proxy for freshclam',
    }),
    /** Extra databases (DatabaseCustomURL), e.g. https://example.org/extra.ndb. */
    customUrls: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      env: 'FRESHCLAM_CUSTOM_URLS',
      description: 'extra databases to download (DatabaseCustomURL)',
    }),
    /** Official databases not to download (ExcludeDatabase), e.g. bytecode. */
    excludeDatabases: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      env: 'FRESHCLAM_EXCLUDE_DATABASES',
      description: 'official databases not to download (ExcludeDatabase: main, daily, bytecode)',
    }),
    updateIntervalSeconds: Type.Integer({
      minimum: 60,
      default: 3600,
      env: 'FRESHCLAM_INTERVAL',
      parse: 'duration',
      description: 'time between freshclam runs (e.g. 1h; seconds)',
    }),
  }),
  store: group({
    /** postgres://… selects the PostgreSQL store; empty uses SQLite in the data directory. */
    databaseUrl: Type.String({
      default: '',
      env: 'DATABASE_URL',
      description: 'postgres://… for scale-out; empty uses SQLite',
    }),
    poolSize: Type.Integer({
      minimum: 1,
      maximum: 200,
      default: 10,
      env: 'DATABASE_POOL_SIZE',
      description: 'PostgreSQL connections per process',
    }),
  }),
  blobs: group({
    /** Bucket for staged uploads; empty stages them in <dataDir>/uploads. */
    s3Bucket: Type.String({
      default: '',
      env: 'BLOB_S3_BUCKET',
      description: 'stage uploads in this bucket instead of the data directory',
    }),
    s3Prefix: Type.String({
      default: 'uploads/',
      env: 'BLOB_S3_PREFIX',
      description: 'key prefix for staged uploads',
    }),
  }),
  s3: group({
    endpoint: Type.String({
      default: '',
      env: 'S3_ENDPOINT',
      description: 'S3-compatible endpoint (MinIO, Ceph, R2); empty is AWS',
    }),
    region: Type.String({ minLength: 1, default: 'us-east-1', env: 'S3_REGION', description: 'S3 region' }),
    forcePathStyle: Type.Boolean({
      default: false,
      env: 'S3_FORCE_PATH_STYLE',
      description: 'path-style bucket addressing',
    }),
    accessKeyId: Type.String({
      default: '',
      env: 'S3_ACCESS_KEY_ID',
      description: 'empty uses the AWS SDK default chain',
    }),
    secretAccessKey: Type.String({
      default: '',
      env: 'S3_SECRET_ACCESS_KEY',
      description: 'secret for S3_ACCESS_KEY_ID',
    }),
  }),
  jobs: group({
    workerConcurrency: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 4,
      env: 'WORKER_CONCURRENCY',
      description: 'jobs scanned at once per worker process',
    }),
    /** Jobs of one tenant running at once across all workers on the store (0 = no limit). */
    maxRunningPerTenant: Type.Integer({
      minimum: 0,
      default: 0,
      env: 'MAX_RUNNING_JOBS_PER_TENANT',
      description:
        "jobs of one tenant scanning at once across all workers (0 = no limit; others' jobs take the rest)",
    }),
    leaseMs: Type.Integer({
      minimum: 1000,
      default: 30_000,
      env: 'JOB_LEASE_MS',
      description: 'lease of a running job, renewed by heartbeat',
    }),
    maxAttempts: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 5,
      env: 'JOB_MAX_ATTEMPTS',
      description: 'tries before a job is unscannable',
    }),
    retryBaseDelayMs: Type.Integer({
      minimum: 10,
      default: 1_000,
      env: 'JOB_RETRY_BASE_MS',
      description: 'first retry delay (doubles per try)',
    }),
    retryMaxDelayMs: Type.Integer({
      minimum: 10,
      default: 5 * 60_000,
      env: 'JOB_RETRY_MAX_MS',
      description: 'longest retry delay',
    }),
    /**
     * Workers are woken when work arrives (in-process, and by LISTEN/NOTIFY on PostgreSQL); this
     * slow poll only covers a lost notification and work that falls due by the clock (an expired
     * lease of a crashed worker, a retry scheduled by another process).
     */
    pollIntervalMs: Type.Integer({
      minimum: 5,
      default: 2_000,
      env: 'JOB_POLL_INTERVAL_MS',
      description: 'fallback poll of an idle worker (new work wakes it at once)',
    }),
    inlineUploadMaxBytes: Type.Integer({
      minimum: 0,
      maximum: 1024 * 1024,
      default: 128 * 1024,
      env: 'INLINE_UPLOAD_MAX_BYTES',
      description:
        'uploads up to this size are stored with their job in the database, not staged as a blob (0 = always stage)',
    }),
    resultRetentionSeconds: Type.Integer({
      minimum: 1,
      default: 24 * 3600,
      env: 'RESULT_RETENTION_SECONDS',
      description: 'how long results stay readable',
    }),
    sweepIntervalMs: Type.Integer({
      minimum: 100,
      default: 60_000,
      env: 'SWEEP_INTERVAL_MS',
      description: 'retention sweep interval',
    }),
    shutdownGraceMs: Type.Integer({
      minimum: 0,
      default: 10_000,
      env: 'SHUTDOWN_GRACE_MS',
      description: 'time running jobs get to finish on SIGTERM',
    }),
  }),
  network: group({
    /** CIDRs that downloads and callbacks may reach although they are private or reserved. */
    allowCidrs: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      env: 'NETWORK_ALLOW_CIDRS',
      description: 'private ranges downloads/callbacks may reach (default: none)',
    }),
    connectTimeoutMs: Type.Integer({
      minimum: 100,
      default: 5_000,
      env: 'DOWNLOAD_CONNECT_TIMEOUT_MS',
      description: 'download/callback connect timeout',
    }),
    headersTimeoutMs: Type.Integer({
      minimum: 100,
      default: 30_000,
      env: 'DOWNLOAD_HEADERS_TIMEOUT_MS',
      description: 'time to response headers',
    }),
    bodyIdleTimeoutMs: Type.Integer({
      minimum: 100,
      default: 30_000,
      env: 'DOWNLOAD_BODY_TIMEOUT_MS',
      description: 'longest silence while reading a body',
    }),
    downloadTimeoutMs: Type.Integer({
      minimum: 100,
      default: 30 * 60_000,
      env: 'DOWNLOAD_TIMEOUT_MS',
      description: 'whole download deadline',
    }),
    /** Slowest average download rate accepted over each minRateWindowMs (0 = no floor). */
    minBytesPerSecond: Type.Integer({
      minimum: 0,
      default: 10 * 1024,
      env: 'DOWNLOAD_MIN_BYTES_PER_SECOND',
      description: 'slowest average download rate accepted (0 = off); slower is a final download_timeout',
    }),
    minRateWindowMs: Type.Integer({
      minimum: 100,
      default: 30_000,
      env: 'DOWNLOAD_MIN_RATE_WINDOW_MS',
      description: 'window the minimum download rate is averaged over',
    }),
    maxRedirects: Type.Integer({
      minimum: 0,
      maximum: 20,
      default: 5,
      env: 'DOWNLOAD_MAX_REDIRECTS',
      description: 'redirect hops followed, each checked again',
    }),
  }),
  callbacks: group({
    timeoutMs: Type.Integer({
      minimum: 100,
      default: 15_000,
      env: 'CALLBACK_TIMEOUT_MS',
      description: 'one callback attempt',
    }),
    /** How long a failing callback keeps being retried before it is marked failed. */
    maxAgeSeconds: Type.Integer({
      minimum: 1,
      default: 24 * 3600,
      env: 'CALLBACK_MAX_AGE_SECONDS',
      description: 'retry a failing callback this long',
    }),
    retryBaseDelayMs: Type.Integer({
      minimum: 10,
      default: 5_000,
      env: 'CALLBACK_RETRY_BASE_MS',
      description: 'first callback retry delay',
    }),
    retryMaxDelayMs: Type.Integer({
      minimum: 10,
      default: 2 * 3600_000,
      env: 'CALLBACK_RETRY_MAX_MS',
      description: 'longest callback retry delay',
    }),
    /** Secret for Standard Webhooks signatures when an API key has none of its own (whsec_…). */
    signingSecret: Type.String({
      default: '',
      env: 'CALLBACK_SIGNING_SECRET',
      description: 'whsec_… default signing secret',
    }),
    /** PEM RSA private key for attachmentAV-style callback signatures; empty keeps one in the store. */
    rsaPrivateKeyFile: Type.String({
      default: '',
      env: 'CALLBACK_RSA_KEY_FILE',
      description: 'PEM RSA key signing attachmentAV callbacks; empty: one generated and kept in the store',
    }),
    /** Public keys (PEM files) still published after a rotation, so receivers can verify late callbacks. */
    rsaPreviousPublicKeyFiles: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      env: 'CALLBACK_RSA_PREVIOUS_PUBLIC_KEYS',
      description: 'PEM public keys still published after a rotation',
    }),
  }),
  auth: group({
    /** Plain keys, or tenant=key pairs; kept in memory only as SHA-256 digests. */
    apiKeys: Type.Array(Type.String({ minLength: 8 }), {
      default: [],
      env: 'API_KEYS',
      description: 'comma-separated keys or tenant=key pairs',
    }),
  }),
  buckets: group({
    /** tenant=bucket[/prefix] or tenant=*: what each tenant may scan, tag, delete in and quarantine to. */
    grants: Type.Array(Type.String({ minLength: 3 }), {
      default: [],
      env: 'BUCKET_GRANTS',
      description:
        'tenant=bucket[/prefix] pairs (or tenant=*) a tenant may scan, tag and quarantine to (default: none)',
    }),
    pageSize: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 1000,
      env: 'BUCKET_SCAN_PAGE_SIZE',
      description: 'objects per ListObjectsV2 page of a bucket scan',
    }),
    window: Type.Integer({
      minimum: 1,
      default: 2000,
      env: 'BUCKET_SCAN_WINDOW',
      description: 'objects of one bucket scan listed ahead of their verdicts at most',
    }),
    settleConcurrency: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 32,
      env: 'BUCKET_SCAN_SETTLE_CONCURRENCY',
      description: 'objects of one bucket scan whose verdict actions (tag, delete, quarantine) run at once',
    }),
    /** tenant=arn:aws:sns:… pairs: the SNS topics whose messages a tenant's event endpoint trusts. */
    snsTopics: Type.Array(Type.String({ minLength: 5 }), {
      default: [],
      env: 'BUCKET_SNS_TOPICS',
      description:
        "tenant=topic-arn pairs: SNS topics whose signed messages (subscription confirmations, notifications) the tenant's POST /v1/buckets/events accepts",
    }),
    /** Beside https://sns.<region>.amazonaws.com/: for SNS-compatible services (and tests), never implied. */
    snsExtraUrlPrefixes: Type.Array(Type.String({ minLength: 8 }), {
      default: [],
      env: 'BUCKET_SNS_EXTRA_URL_PREFIXES',
      description:
        'URL prefixes trusted for SNS SigningCertURL and SubscribeURL beside https://sns.<region>.amazonaws.com/ (default: none)',
    }),
  }),
  rateLimit: group({
    requestsPerMinute: Type.Integer({
      minimum: 0,
      default: 0,
      env: 'RATE_LIMIT_PER_MINUTE',
      description: 'requests per key per minute (0 = off)',
    }),
    maxConcurrentJobsPerKey: Type.Integer({
      minimum: 0,
      default: 0,
      env: 'MAX_CONCURRENT_JOBS_PER_KEY',
      description: 'pending jobs per key (0 = off)',
    }),
    redisUrl: Type.String({
      default: '',
      env: 'REDIS_URL',
      description: 'shared rate-limit store for several API nodes',
    }),
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

interface OptionSchema {
  type?: unknown;
  properties?: Record<string, OptionSchema>;
  env?: string;
  parse?: 'size' | 'duration';
  description?: string;
}

/** How an option's environment value is read: by its type, unless the schema says it is a size. */
function parserOf(schema: OptionSchema): Parser {
  if (schema.parse) return schema.parse;
  switch (schema.type) {
    case 'integer':
      return 'int';
    case 'boolean':
      return 'bool';
    case 'array':
      return 'list';
    default:
      return 'string';
  }
}

function environmentOf(schema: OptionSchema, prefix: string): EnvVariable[] {
  const variables: EnvVariable[] = [];
  for (const [key, option] of Object.entries(schema.properties ?? {})) {
    const dotted = prefix ? `${prefix}.${key}` : key;
    if (option.properties) variables.push(...environmentOf(option, dotted));
    else if (option.env) {
      variables.push({
        name: option.env,
        path: dotted,
        parse: parserOf(option),
        description: option.description ?? '',
      });
    }
  }
  return variables;
}

/** Every environment variable scangate reads, in schema order; the README's configuration table is this list. */
export const ENV_VARIABLES: readonly EnvVariable[] = environmentOf(ConfigSchema as OptionSchema, '');

/** Every option at its schema default; the data directory is the one default resolved at load time. */
export function defaultConfig(dataDir = path.resolve('data')): Config {
  return { ...(Value.Default(ConfigSchema, {}) as Config), dataDir };
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
        throw new ConfigError(`${variable.name}: ${messageOf(error)}`);
      }
    case 'duration':
      try {
        return parseDuration(raw);
      } catch (error) {
        throw new ConfigError(`${variable.name}: ${messageOf(error)}`);
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
      throw new ConfigError(`cannot read config file ${env.SCANGATE_CONFIG}: ${messageOf(error)}`);
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
    throw new ConfigError(`${name}_FILE: cannot read ${file}: ${messageOf(error)}`);
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
  if (config.http.publicUrl && !/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(config.http.publicUrl))
    problems.push('http.publicUrl must be an http(s) URL without query or fragment (PUBLIC_URL)');
  if (!config.http.tlsCertFile !== !config.http.tlsKeyFile)
    problems.push('TLS needs both http.tlsCertFile and http.tlsKeyFile (TLS_CERT_FILE, TLS_KEY_FILE)');
  if (config.signatures.proxy && !/^https?:\/\/[^/]+:\d+\/?$/.test(config.signatures.proxy))
    problems.push('signatures.proxy must look like http://[user:password@]host:port');
  for (const cidr of config.network.allowCidrs) {
    if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(cidr)) problems.push(`network.allowCidrs: "${cidr}" is not a CIDR`);
    if (/^(0\.0\.0\.0|::)\/0$/.test(cidr))
      problems.push(`network.allowCidrs: "${cidr}" would disable SSRF protection`);
  }
  return problems;
}

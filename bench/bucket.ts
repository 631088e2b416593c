#!/usr/bin/env node
/**
 * `node bench/bucket.ts [--objects 100000] [--size 1024] [--concurrency 16]`: a bucket of small
 * objects in s3rver on loopback, scanned once as a bucket scan (ListObjectsV2 → jobs → tags) and
 * once as the same bytes sent as async uploads, against one scangate with its managed clamd.
 * Prints objects/s for both and checks that the bucket scan gave exactly one verdict per object.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { BucketScanView } from 'scangate/client';
import { startS3rver } from '../test/support/s3rver.ts';
import { cpuMeter, inParallel, operationsPerKey, round, s3rverFloor } from './bucket-costs.ts';
import { type BucketBenchReport, spliceBucketSection } from './bucket-markdown.ts';
import { buildService, startScangate } from './processes.ts';
import { countOperations } from './s3-requests.ts';

const KEY = 'bench-bucket-key-0123456789';
const BUCKET = 'bench-bucket';
const REPO = path.resolve(import.meta.dirname, '..');
const RESULTS = path.join(REPO, 'bench/results');

function log(message: string): void {
  console.error(`[bench:bucket ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/**
 * Distinct bytes per object, of the same size in both phases but never the same bytes: neither
 * clamd's MD5 cache nor scangate's verdict cache may answer an upload for an object scanned before.
 */
function objectBytes(index: number, size: number, phase: 'bucket' | 'upload' = 'bucket'): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (let block = 0; total < size; block++) {
    const digest = createHash('sha256').update(`scangate-bench-${phase}-${index}-${block}`).digest();
    chunks.push(digest);
    total += digest.length;
  }
  return Buffer.concat(chunks).subarray(0, size);
}

function objectKey(index: number): string {
  return `objects/${String(index).padStart(7, '0')}.bin`;
}

/**
 * One object laid out as s3rver 3.7's file-system store keeps it (bytes, MD5 = ETag, metadata), so a
 * 100,000-object bucket is made in seconds instead of the minutes s3rver takes over PutObject.
 * `--put-objects` writes through the S3 API instead.
 */
async function writeS3rverObject(directory: string, key: string, bytes: Buffer): Promise<void> {
  const base = path.join(directory, BUCKET, key);
  await mkdir(path.dirname(base), { recursive: true });
  await writeFile(`${base}._S3rver_object`, bytes);
  await writeFile(`${base}._S3rver_object.md5`, createHash('md5').update(bytes).digest('hex'));
  await writeFile(
    `${base}._S3rver_metadata.json`,
    JSON.stringify({ 'content-type': 'application/octet-stream' }),
  );
}

async function api<T>(url: string, method: string, route: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await response.json()) as T;
  if (!response.ok) throw new Error(`${method} ${route}: HTTP ${response.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

type Progress = Pick<
  BucketScanView,
  | 'state'
  | 'listed'
  | 'clean'
  | 'infected'
  | 'unscannable'
  | 'other'
  | 'failed'
  | 'skipped'
  | 'rescans'
  | 'rate'
>;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'rewrite-markdown': { type: 'boolean', default: false },
      objects: { type: 'string', default: '100000' },
      size: { type: 'string', default: '1024' },
      concurrency: { type: 'string', default: '16' },
      'floor-objects': { type: 'string', default: '2000' },
      'upload-objects': { type: 'string' },
      'put-objects': { type: 'boolean', default: false },
      'skip-uploads': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      output: { type: 'string', default: path.join(RESULTS, 'bucket.json') },
      markdown: { type: 'string', default: path.join(REPO, 'BENCHMARKS.md') },
      env: { type: 'string', multiple: true, default: [] },
      'time-limit': { type: 'string', default: '60' },
    },
  });
  if (values['rewrite-markdown']) {
    // Re-renders BENCHMARKS.md's section from the JSON (after changing the renderer), running nothing.
    const report = JSON.parse(await readFile(values.output, 'utf8')) as BucketBenchReport;
    const existing = await readFile(values.markdown, 'utf8').catch(() => undefined);
    await writeFile(
      values.markdown,
      spliceBucketSection(existing, report, path.relative(REPO, values.output)),
    );
    return;
  }
  const objects = Number(values.objects);
  const size = Number(values.size);
  const concurrency = Number(values.concurrency);
  const deadline = Date.now() + Number(values['time-limit']) * 60_000;
  const checkDeadline = (phase: string) => {
    if (Date.now() > deadline)
      throw new Error(`--time-limit of ${values['time-limit']} min reached during ${phase}`);
  };
  const uploadCount = Math.min(objects, Number(values['upload-objects'] ?? objects));
  const loadAverageStart = os.loadavg()[0]!;
  const startedAt = new Date().toISOString();
  const commit = gitCommit();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'scangate-bench-bucket-'));
  const s3 = await startS3rver([BUCKET]);
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.config.accessKeyId, secretAccessKey: s3.config.secretAccessKey },
  });
  let scangate: Awaited<ReturnType<typeof startScangate>> | undefined;
  // Ctrl-C or a kill stops what the bench started (scangate and its clamd), not only the bench.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      scangate?.killNow();
      void s3
        .stop()
        .finally(() => rm(dir, { recursive: true, force: true }).finally(() => process.exit(130)));
    });
  }
  try {
    log(
      `writing ${objects} objects of ${size} bytes to s3rver${values['put-objects'] ? ' (PutObject)' : ' (its store on disk)'}`,
    );
    const writeStarted = performance.now();
    await inParallel(objects, values['put-objects'] ? concurrency : 64, async (index) => {
      const key = objectKey(index);
      const bytes = objectBytes(index, size);
      if (values['put-objects']) {
        await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
      } else await writeS3rverObject(s3.directory, key, bytes);
    });
    const writeSeconds = (performance.now() - writeStarted) / 1000;
    const extraEnv = Object.fromEntries(
      values.env.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
    buildService();
    scangate = await startScangate({
      dataDir: path.join(dir, 'data'),
      cpuProfileDir: values['cpu-prof'],
      env: {
        LOG_LEVEL: 'warn',
        // The offline test database, as the main bench runs it.
        SIGNATURES: 'test',
        API_KEYS: `bench=${KEY}`,
        S3_ENDPOINT: s3.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        S3_ACCESS_KEY_ID: s3.config.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.config.secretAccessKey,
        BUCKET_GRANTS: `bench=${BUCKET}`,
        ...extraEnv,
      },
    });

    log('bucket scan');
    const firstRequest = s3.requests.length;
    const bucketCpu = cpuMeter(scangate.pid);
    const bucketStarted = performance.now();
    const scan = await api<{ id: string }>(scangate.url, 'POST', '/v1/buckets/scans', {
      bucket: BUCKET,
      prefix: 'objects/',
      actions: { tag: 'scangate', infected: 'none' },
    });
    let progress: Progress;
    for (;;) {
      progress = await api<Progress>(scangate.url, 'GET', `/v1/buckets/scans/${scan.id}`);
      if (['done', 'failed', 'cancelled'].includes(progress.state)) break;
      checkDeadline('the bucket scan');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const bucketSeconds = (performance.now() - bucketStarted) / 1000;
    const bucketCpuSeconds = bucketCpu();
    const bucketRequests = s3.requests.slice(firstRequest);
    const verdicts = progress.clean + progress.infected + progress.unscannable + progress.other;
    const exactlyOnce =
      progress.state === 'done' &&
      progress.listed === objects &&
      verdicts === objects &&
      progress.failed === 0;
    log(`bucket scan: ${progress.state}, ${verdicts} verdicts in ${bucketSeconds.toFixed(1)} s`);

    log('s3rver alone: the same object requests from a bare loop');
    const floor = await s3rverFloor(
      client,
      BUCKET,
      operationsPerKey(bucketRequests),
      Number(values['floor-objects']),
      concurrency,
    );

    let uploads:
      | {
          seconds: number;
          objectsPerSecond: number;
          submitted: number;
          cpuSeconds: ReturnType<ReturnType<typeof cpuMeter>>;
        }
      | undefined;
    if (!values['skip-uploads']) {
      log(`the same objects as async uploads (${uploadCount})`);
      const uploadCpu = cpuMeter(scangate.pid);
      const uploadStarted = performance.now();
      let submitted = 0;
      await inParallel(uploadCount, concurrency, async (index) => {
        const form = new FormData();
        form.set('file', new Blob([objectBytes(index, size, 'upload')]), `${index}.bin`);
        const response = await fetch(`${scangate!.url}/v1/scans/file`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}` },
          body: form,
        });
        if (response.status !== 202) throw new Error(`upload ${index}: HTTP ${response.status}`);
        await response.arrayBuffer();
        submitted++;
      });
      for (;;) {
        const pending = await api<{ scans: unknown[] }>(
          scangate.url,
          'GET',
          '/v1/scans?status=pending&limit=1',
        );
        if (pending.scans.length === 0) break;
        checkDeadline('the uploads');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const uploadSeconds = (performance.now() - uploadStarted) / 1000;
      uploads = {
        seconds: round(uploadSeconds),
        objectsPerSecond: round(uploadCount / uploadSeconds, 1),
        submitted,
        cpuSeconds: uploadCpu(),
      };
    }

    const report: BucketBenchReport = {
      at: startedAt,
      command: `node bench/bucket.ts ${process.argv.slice(2).join(' ')}`.trim(),
      commit,
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model ?? 'unknown',
        loadAverageStart: round(loadAverageStart),
        loadAverageEnd: round(os.loadavg()[0]!),
      },
      objects,
      objectBytes: size,
      concurrency,
      settings: extraEnv,
      writeObjectsPerSecond: round(objects / writeSeconds, 1),
      objectsWrittenThrough: values['put-objects'] ? 'PutObject' : "s3rver's store on disk",
      bucketScan: {
        state: progress.state,
        seconds: round(bucketSeconds),
        objectsPerSecond: round(objects / bucketSeconds, 1),
        verdicts,
        rescans: progress.rescans,
        exactlyOneVerdictPerObject: exactlyOnce,
        s3Requests: bucketRequests.length,
        s3RequestsPerObject: round(bucketRequests.length / objects),
        s3Operations: countOperations(bucketRequests),
        cpuSeconds: bucketCpuSeconds,
      },
      s3rverAlone: floor,
      ...(uploads ? { uploads } : {}),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    await mkdir(path.dirname(values.output), { recursive: true });
    await writeFile(values.output, `${JSON.stringify(report, null, 2)}\n`);
    if (values.markdown) {
      const existing = await readFile(values.markdown, 'utf8').catch(() => undefined);
      await writeFile(
        values.markdown,
        spliceBucketSection(existing, report, path.relative(REPO, values.output)),
      );
    }
    if (!exactlyOnce) process.exitCode = 1;
  } finally {
    await scangate?.stop();
    client.destroy();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

await main();

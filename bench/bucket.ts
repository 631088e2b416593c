#!/usr/bin/env node
/**
 * `node bench/bucket.ts [--objects 100000] [--size 1024] [--concurrency 16]`: a bucket of small
 * objects in s3rver on loopback, scanned once as a bucket scan (ListObjectsV2 → jobs → tags) and
 * once as the same bytes sent as async uploads, against one scangate with its managed clamd.
 * Prints objects/s for both and checks that the bucket scan gave exactly one verdict per object.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { BucketScanView } from 'scangate/client';
import { startS3rver } from '../test/support/s3rver.ts';
import { startScangate } from './processes.ts';

const KEY = 'bench-bucket-key-0123456789';
const BUCKET = 'bench-bucket';

function log(message: string): void {
  console.error(`[bench:bucket ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** Distinct bytes per object (clamd's MD5 cache must not answer for it), the same in both phases. */
function objectBytes(index: number, size: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (let block = 0; total < size; block++) {
    const digest = createHash('sha256').update(`scangate-bench-${index}-${block}`).digest();
    chunks.push(digest);
    total += digest.length;
  }
  return Buffer.concat(chunks).subarray(0, size);
}

async function inParallel(
  count: number,
  concurrency: number,
  work: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let index = next++; index < count; index = next++) await work(index);
    }),
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
      objects: { type: 'string', default: '100000' },
      size: { type: 'string', default: '1024' },
      concurrency: { type: 'string', default: '16' },
      output: { type: 'string' },
    },
  });
  const objects = Number(values.objects);
  const size = Number(values.size);
  const concurrency = Number(values.concurrency);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'scangate-bench-bucket-'));
  const s3 = await startS3rver([BUCKET]);
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.config.accessKeyId, secretAccessKey: s3.config.secretAccessKey },
  });
  let scangate: Awaited<ReturnType<typeof startScangate>> | undefined;
  try {
    log(`writing ${objects} objects of ${size} bytes to s3rver`);
    await inParallel(objects, concurrency, async (index) => {
      await client.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: `objects/${String(index).padStart(7, '0')}.bin`,
          Body: objectBytes(index, size),
        }),
      );
    });
    scangate = await startScangate({
      dataDir: path.join(dir, 'data'),
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
      },
    });

    log('bucket scan');
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
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const bucketSeconds = (performance.now() - bucketStarted) / 1000;
    const verdicts = progress.clean + progress.infected + progress.unscannable + progress.other;
    const exactlyOnce =
      progress.state === 'done' &&
      progress.listed === objects &&
      verdicts === objects &&
      progress.failed === 0;
    log(`bucket scan: ${progress.state}, ${verdicts} verdicts in ${bucketSeconds.toFixed(1)} s`);

    log('the same objects as async uploads');
    const uploadStarted = performance.now();
    const ids: string[] = [];
    await inParallel(objects, concurrency, async (index) => {
      const form = new FormData();
      form.set('file', new Blob([objectBytes(index, size)]), `${index}.bin`);
      const response = await fetch(`${scangate!.url}/v1/scans/file`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}` },
        body: form,
      });
      if (response.status !== 202) throw new Error(`upload ${index}: HTTP ${response.status}`);
      ids.push(((await response.json()) as { id: string }).id);
    });
    for (;;) {
      const pending = await api<{ scans: unknown[] }>(
        scangate.url,
        'GET',
        '/v1/scans?status=pending&limit=1',
      );
      if (pending.scans.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const uploadSeconds = (performance.now() - uploadStarted) / 1000;

    const report = {
      at: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown' },
      objects,
      objectBytes: size,
      concurrency,
      bucketScan: {
        seconds: Number(bucketSeconds.toFixed(2)),
        objectsPerSecond: Number((objects / bucketSeconds).toFixed(1)),
        verdicts,
        rescans: progress.rescans,
        exactlyOneVerdictPerObject: exactlyOnce,
      },
      uploads: {
        seconds: Number(uploadSeconds.toFixed(2)),
        objectsPerSecond: Number((objects / uploadSeconds).toFixed(1)),
        submitted: ids.length,
      },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (values.output) await writeFile(values.output, `${JSON.stringify(report, null, 2)}\n`);
    if (!exactlyOnce) process.exitCode = 1;
  } finally {
    await scangate?.stop();
    client.destroy();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

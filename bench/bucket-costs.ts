/**
 * What a bucket-scan bench run costs and where: CPU per process, S3 requests per object, and
 * s3rver's own ceiling for those requests (a bare loop without scangate or clamd).
 */
import { readdirSync, readFileSync } from 'node:fs';
import {
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { RecordedRequest } from '../test/support/s3rver.ts';
import type { BucketBenchReport } from './bucket-markdown.ts';
import { cpuSeconds } from './processes.ts';
import { s3Operation } from './s3-requests.ts';

export async function inParallel(
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

/** The processes a scangate child started (its managed clamd), by parent pid, from /proc. */
function childPids(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** CPU seconds of this process (s3rver runs in it), the scangate child and its clamd, from a start. */
export function cpuMeter(
  scangatePid: number,
): () => { s3rverAndBench: number; scangate: number; clamd: number } {
  const clamdPids = childPids(scangatePid);
  const clamdCpu = () => clamdPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const start = { self: process.cpuUsage(), scangate: cpuSeconds(scangatePid), clamd: clamdCpu() };
  return () => {
    const self = process.cpuUsage(start.self);
    return {
      s3rverAndBench: round((self.user + self.system) / 1e6),
      scangate: round(cpuSeconds(scangatePid) - start.scangate),
      clamd: round(clamdCpu() - start.clamd),
    };
  };
}

export function round(value: number, digits = 2): number {
  return Number(value.toFixed(digits));
}

/** Object key → the object-level S3 operations the bucket scan sent for it, in order. */
export function operationsPerKey(requests: readonly RecordedRequest[]): Map<string, string[]> {
  const perKey = new Map<string, string[]>();
  for (const request of requests) {
    const key = decodeURIComponent(request.url.split('?')[0] ?? '')
      .split('/')
      .slice(2)
      .join('/');
    if (!key) continue;
    const operations = perKey.get(key) ?? [];
    operations.push(s3Operation(request));
    perKey.set(key, operations);
  }
  return perKey;
}

/**
 * s3rver's own ceiling: the object-level requests the bucket scan sent for a sample of objects,
 * replayed in the same order from a bare loop (no scangate, no clamd). Objects/s here is the most a
 * bucket scan that needs these requests can reach on s3rver, whatever scangate does.
 */
export async function s3rverFloor(
  client: S3Client,
  bucket: string,
  perKey: Map<string, string[]>,
  sample: number,
  concurrency: number,
): Promise<BucketBenchReport['s3rverAlone']> {
  const keys = [...perKey.keys()].slice(0, sample);
  let requests = 0;
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  await inParallel(keys.length, concurrency, async (index) => {
    const key = keys[index]!;
    const target = { Bucket: bucket, Key: key };
    for (const operation of perKey.get(key) ?? []) {
      requests++;
      if (operation === 'GetObject') {
        const answer = await client.send(new GetObjectCommand(target));
        await answer.Body?.transformToByteArray();
      } else if (operation === 'HeadObject') await client.send(new HeadObjectCommand(target));
      else if (operation === 'GetObjectTagging') await client.send(new GetObjectTaggingCommand(target));
      else if (operation === 'PutObjectTagging') {
        await client.send(
          new PutObjectTaggingCommand({ ...target, Tagging: { TagSet: [{ Key: 'bench', Value: 'floor' }] } }),
        );
      } else requests--;
    }
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  return {
    objects: keys.length,
    requests,
    seconds: round(seconds),
    objectsPerSecond: round(keys.length / seconds, 1),
    requestsPerSecond: round(requests / seconds, 1),
    cpuSecondsPerRequest: round((cpu.user + cpu.system) / 1e6 / Math.max(requests, 1), 5),
  };
}

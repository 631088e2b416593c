import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config } from '../../src/config.ts';

interface S3rverInstance {
  configureBuckets(): Promise<void>;
  callback(): RequestListener;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as S3rverConstructor;

/**
 * s3rver makes ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node 24) only
 * has in its legacy provider: every truncated listing answers 500. Triple DES with three equal
 * keys is single DES, and the default provider has it, so s3rver's 'des' calls are given that.
 */
function singleDesAsTripleDes(): void {
  const nodeCrypto = require('node:crypto') as typeof import('node:crypto');
  const patched = nodeCrypto as unknown as Record<string, unknown>;
  if (patched.__scangateSingleDes) return;
  patched.__scangateSingleDes = true;
  const asTriple = (key: Buffer) => Buffer.concat([key, key, key]);
  const { createCipheriv, createDecipheriv } = nodeCrypto;
  patched.createCipheriv = (algorithm: string, key: Buffer, iv: Buffer, ...rest: unknown[]) =>
    algorithm === 'des'
      ? createCipheriv('des-ede3-cbc', asTriple(key), iv)
      : (createCipheriv as (...args: unknown[]) => unknown)(algorithm, key, iv, ...rest);
  patched.createDecipheriv = (algorithm: string, key: Buffer, iv: Buffer, ...rest: unknown[]) =>
    algorithm === 'des'
      ? createDecipheriv('des-ede3-cbc', asTriple(key), iv)
      : (createDecipheriv as (...args: unknown[]) => unknown)(algorithm, key, iv, ...rest);
}
singleDesAsTripleDes();

/** s3rver's own credentials; it checks the key id and (for SigV4) nothing else. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface RecordedRequest {
  method: string;
  /** Path and query as sent, e.g. `/bucket/key?versionId=abc&x-id=GetObject`. */
  url: string;
}

/** Answers a request itself (return true) or lets s3rver answer it (return false). */
export type Interceptor = (request: IncomingMessage, response: ServerResponse) => boolean;

export interface S3rverHandle {
  endpoint: string;
  /** s3rver's file-system store (a benchmark may lay out many objects there directly). */
  directory: string;
  /** The `s3` part of Config pointing at this server. */
  config: Config['s3'];
  /** Every request received, in order (s3rver ignores some parameters, e.g. versionId). */
  requests: RecordedRequest[];
  /** Installs a fault for the requests it matches; returns a function that removes it. */
  intercept(interceptor: Interceptor): () => void;
  stop(): Promise<void>;
}

/**
 * Starts s3rver on 127.0.0.1 at a random port over a fresh temp directory, with the given buckets.
 * s3rver 3.7 has no versioning (GET ?versioning is NotImplemented and GetObject ignores
 * versionId) and checks only that the access key id exists (InvalidAccessKeyId, 403) under SigV4,
 * so versioned reads and AccessDenied are checked through `requests` and `intercept`.
 */
export async function startS3rver(buckets: string[] = ['scangate-test']): Promise<S3rverHandle> {
  const directory = await mkdtemp(path.join(tmpdir(), 'scangate-s3rver-'));
  const s3rver = new S3rver({
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  await s3rver.configureBuckets();
  const answer = s3rver.callback();
  const requests: RecordedRequest[] = [];
  const interceptors = new Set<Interceptor>();

  const server = createServer((request, response) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '' });
    for (const interceptor of interceptors) {
      if (interceptor(request, response)) return;
    }
    answer(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;

  return {
    endpoint,
    directory,
    config: {
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      ...S3RVER_CREDENTIALS,
    },
    requests,
    intercept(interceptor) {
      interceptors.add(interceptor);
      return () => interceptors.delete(interceptor);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Writes an S3-style XML error answer, as a real S3 would send it. */
export function sendS3Error(response: ServerResponse, status: number, code: string, message = code): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>test</RequestId></Error>`;
  response.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
}

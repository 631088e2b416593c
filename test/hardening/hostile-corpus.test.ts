/**
 * The hostile-input corpus: EICAR inside every wrapper this machine's tools make, nested up to three
 * deep (every single wrapper, every ordered pair, every ordered triple of distinct wrappers). Every
 * chain goes through the synchronous route; singles and pairs also through an async upload, an
 * async URL download and an async URL download the server Content-Encodes anyway; each triple
 * through one of those three in turn (a covering subset that keeps the run near four minutes on
 * two shared cores). Each clamav-testfiles sample goes inside every single wrapper through the
 * synchronous route. Nothing may come back `clean`. Prints the verdict table.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import type { NativeScan } from 'scangate/client';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import {
  authHeaders,
  KEY_A,
  startTestService,
  submitNativeUpload,
  type TestService,
  waitFor,
} from '../support/service.ts';
import { availableWrappers, memberNameFor, type Wrapper } from './wrappers.ts';

const TESTFILES = '/usr/share/clamav-testfiles';
const ENCODINGS = ['gzip', 'br', 'zstd', 'deflate'] as const;
const ENCODERS: Record<(typeof ENCODINGS)[number], (bytes: Buffer) => Buffer> = {
  gzip: gzipSync,
  br: brotliCompressSync,
  zstd: zstdCompressSync,
  deflate: deflateSync,
};

interface Sample {
  label: string;
  chain: string[];
  bytes: Buffer;
  encoding: (typeof ENCODINGS)[number];
}

let service: TestService;
let files: TestHttpServer;
let wrappers: Wrapper[];
let missing: string[];
const samples: Sample[] = [];

/** Runs `task` over `items` with at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, task: (item: T, index: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    [...Array(limit)].map(async () => {
      while (next < items.length) {
        const index = next++;
        await task(items[index]!, index);
      }
    }),
  );
}

/** Every single wrapper, every ordered pair, every ordered triple of distinct wrappers. */
function chainsOf(names: string[]): string[][] {
  const chains: string[][] = names.map((name) => [name]);
  for (const a of names) for (const b of names) chains.push([a, b]);
  for (const a of names)
    for (const b of names) for (const c of names) if (a !== b && b !== c && a !== c) chains.push([a, b, c]);
  return chains;
}

async function buildChains(payload: Buffer, payloadName: string): Promise<Map<string, Buffer>> {
  const byName = new Map(wrappers.map((wrapper) => [wrapper.name, wrapper]));
  const built = new Map<string, Buffer>();
  for (const chain of chainsOf(wrappers.map((wrapper) => wrapper.name))) {
    // Built innermost first; a chain's prefix was built just before it (singles, then pairs, …).
    const prefix = chain.slice(0, -1).join('>');
    const inner = prefix === '' ? payload : built.get(prefix)!;
    const memberName = prefix === '' ? payloadName : memberNameFor(chain[chain.length - 2]!);
    built.set(chain.join('>'), await byName.get(chain[chain.length - 1]!)!.wrap(inner, memberName));
  }
  return built;
}

function serveCorpus(request: http.IncomingMessage, response: http.ServerResponse): void {
  const match = /^\/(plain|encoded)\/(\d+)$/.exec(request.url ?? '');
  const sample = match ? samples[Number(match[2])] : undefined;
  if (!match || !sample) {
    response.writeHead(404).end();
    return;
  }
  const body = match[1] === 'encoded' ? ENCODERS[sample.encoding](sample.bytes) : sample.bytes;
  response.writeHead(200, {
    'content-length': String(body.length),
    // Served although scangate asked for identity: the server that ignores Accept-Encoding.
    ...(match[1] === 'encoded' ? { 'content-encoding': sample.encoding } : {}),
  });
  response.end(body);
}

before(async () => {
  ({ wrappers, missing } = await availableWrappers());
  const chains = await buildChains(eicarBytes(), 'eicar.com');
  let index = 0;
  for (const [label, bytes] of chains) {
    samples.push({ label, chain: label.split('>'), bytes, encoding: ENCODINGS[index++ % ENCODINGS.length]! });
  }
  files = await startHttpServer(serveCorpus);
  service = await startTestService({
    network: { allowCidrs: ['127.0.0.0/8'] },
    jobs: { workerConcurrency: 4 },
  });
});

after(async () => {
  await service?.stop();
  await files?.close();
});

const ASYNC_ROUTES = ['upload', 'url', 'encoded'] as const;

/** Singles and pairs go through every async route; triples through one, in turn. */
function asyncRoutesFor(sample: Sample, index: number): (typeof ASYNC_ROUTES)[number][] {
  return sample.chain.length < 3 ? [...ASYNC_ROUTES] : [ASYNC_ROUTES[index % ASYNC_ROUTES.length]!];
}

/** bucketAV's sync answer, as a short verdict. */
async function syncVerdict(bytes: Buffer): Promise<string> {
  const response = await fetch(`${service.url}/api/v1/scan/sync/binary`, {
    method: 'POST',
    headers: { ...authHeaders(KEY_A), 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  assert.equal(response.status, 200, await response.clone().text());
  const body = (await response.json()) as { status: string; finding?: string };
  return body.status === 'infected'
    ? `infected`
    : body.status === 'no'
      ? `no(${body.finding ?? ''})`
      : body.status;
}

function nativeVerdict(scan: NativeScan): string {
  if (scan.status === 'unscannable')
    return `unscannable(${scan.reason}${scan.detail?.match(/^(\w+):/)?.[1] ? `:${scan.detail.match(/^(\w+):/)![1]}` : ''})`;
  return scan.status;
}

async function submitUrl(target: string): Promise<string> {
  const response = await fetch(`${service.url}/v1/scans/url`, {
    method: 'POST',
    headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
    body: JSON.stringify({ url: target }),
  });
  assert.equal(response.status, 202, await response.clone().text());
  return ((await response.json()) as NativeScan).id;
}

test('no wrapper chain up to three deep turns EICAR or a ClamAV test file into clean', async () => {
  const started = Date.now();
  const rows = samples.map(() => ({ sync: '', upload: '', url: '', encoded: '' }));
  const jobIds = samples.map(() => ({ upload: '', url: '', encoded: '' }));

  // Asynchronous routes first (the workers start on them), then the synchronous route meanwhile.
  await eachLimited(samples, 8, async (sample, index) => {
    const routes = asyncRoutesFor(sample, index);
    if (routes.includes('upload')) {
      const upload = await submitNativeUpload(service.url, sample.bytes, { filename: `corpus-${index}.bin` });
      assert.equal(upload.status, 202);
      jobIds[index]!.upload = ((await upload.json()) as NativeScan).id;
    }
    if (routes.includes('url')) jobIds[index]!.url = await submitUrl(`${files.origin}/plain/${index}`);
    if (routes.includes('encoded'))
      jobIds[index]!.encoded = await submitUrl(`${files.origin}/encoded/${index}`);
  });
  await eachLimited(samples, 4, async (sample, index) => {
    rows[index]!.sync = await syncVerdict(sample.bytes);
  });
  await waitFor(
    async () => ((await service.service.store.jobs.countUnfinished()) === 0 ? true : undefined),
    600_000,
    250,
  );
  await eachLimited(samples, 8, async (_sample, index) => {
    for (const route of asyncRoutesFor(samples[index]!, index)) {
      const response = await fetch(`${service.url}/v1/scans/${jobIds[index]![route]}`, {
        headers: authHeaders(KEY_A),
      });
      rows[index]![route] = nativeVerdict((await response.json()) as NativeScan);
    }
  });

  // ClamAV's own test files (packed executables, documents, archives) in every single wrapper.
  const testFiles = readdirSync(TESTFILES).filter((name) => name.startsWith('clam'));
  const testFileRows: { label: string; sync: string }[] = [];
  const testFileSamples: { label: string; bytes: Buffer }[] = [];
  for (const name of testFiles) {
    const content = readFileSync(path.join(TESTFILES, name));
    for (const wrapper of wrappers) {
      testFileSamples.push({ label: `${name} in ${wrapper.name}`, bytes: await wrapper.wrap(content, name) });
    }
  }
  await eachLimited(testFileSamples, 4, async (sample) => {
    testFileRows.push({ label: sample.label, sync: await syncVerdict(sample.bytes) });
  });

  // The table, then the counts that docs/RELIABILITY.md quotes.
  const lines = ['chain (innermost first) | sync | async upload | async URL | async URL + Content-Encoding'];
  samples.forEach((sample, index) => {
    const row = rows[index]!;
    lines.push(
      `${sample.label} | ${row.sync} | ${row.upload} | ${row.url} | ${row.encoded} (${sample.encoding})`,
    );
  });
  console.log(lines.join('\n'));
  const notInfected = testFileRows.filter((row) => row.sync !== 'infected');
  console.log(
    `test files not reported infected: ${notInfected.map((row) => `${row.label}: ${row.sync}`).join('; ')}`,
  );
  const verdicts = rows.flatMap((row) => [row.sync, row.upload, row.url, row.encoded]).filter(Boolean);
  const tally = new Map<string, number>();
  for (const verdict of [...verdicts, ...testFileRows.map((row) => row.sync)]) {
    const kind = verdict.replace(/\(.*$/, '').replace(/^no$/, 'no');
    tally.set(kind, (tally.get(kind) ?? 0) + 1);
  }
  const depth = (n: number) => samples.filter((sample) => sample.chain.length === n).length;
  console.log(
    JSON.stringify({
      wrappers: wrappers.map((wrapper) => wrapper.name),
      missingTools: missing,
      chains: { single: depth(1), double: depth(2), tripleDistinct: depth(3) },
      eicarScans: verdicts.length,
      testFileScans: testFileRows.length,
      verdicts: Object.fromEntries(tally),
      unsupportedByFormat: Object.fromEntries(
        [...verdicts.join(' ').matchAll(/unsupported_format:(\w+)/g)].reduce(
          (counts, [, format]) => counts.set(format!, (counts.get(format!) ?? 0) + 1),
          new Map<string, number>(),
        ),
      ),
      seconds: Math.round((Date.now() - started) / 1000),
    }),
  );

  const clean = [
    ...samples.flatMap((sample, index) =>
      Object.entries(rows[index]!)
        .filter(([, verdict]) => verdict === 'clean')
        .map(([route]) => `${sample.label} via ${route}`),
    ),
    ...testFileRows.filter((row) => row.sync === 'clean').map((row) => `${row.label} via sync`),
  ];
  assert.deepEqual(clean, [], 'inputs that came back clean');
  const expected = samples.reduce((sum, sample, index) => sum + 1 + asyncRoutesFor(sample, index).length, 0);
  assert.equal(verdicts.length, expected, 'every input sent has a verdict');
});

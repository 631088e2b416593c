import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream, openAsBlob, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { NativeScan } from 'scangate/client';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import { authHeaders, KEY_A, startTestService, type TestService, waitFor } from '../support/service.ts';
import { nestedZip, nestedZipBomb, passwordZip, zipBomb } from './archive-fixtures.ts';
import { sampleRss } from './memory-sampler.ts';

const MiB = 1024 * 1024;
/** Small enough that the at/over-limit files are cheap; the managed clamd then scans 400 MiB per input. */
const LIMIT = MiB;

/** Serves the files of one directory by name, with Content-Length, for URL scans. */
function fileServer(dir: string): Promise<TestHttpServer> {
  return startHttpServer((request, response) => {
    const file = path.join(dir, path.basename(request.url ?? '/'));
    stat(file).then(
      (info) => {
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': info.size });
        createReadStream(file).pipe(response);
      },
      () => response.writeHead(404).end(),
    );
  });
}

describe('hostile files through the HTTP API, scanned by the real clamd', () => {
  let service: TestService;
  let files: TestHttpServer;
  let dir: string;
  const healthChecks: number[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scangate-hostile-'));
    files = await fileServer(dir);
    service = await startTestService({
      limits: { maxFileSizeBytes: LIMIT },
      network: { allowCidrs: ['127.0.0.0/8'] },
      engine: { maxThreads: 2 },
    });
  });
  after(async () => {
    await service.stop();
    await files.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The managed clamd's pid, read at every sample: it may have been restarted. */
  const clamdPid = () => {
    try {
      return (
        Number.parseInt(readFileSync(path.join(service.dataDir, 'clamd', 'clamd.pid'), 'utf8'), 10) ||
        undefined
      );
    } catch {
      return undefined;
    }
  };

  async function uploadNative(body: Blob, filename: string): Promise<Response> {
    const form = new FormData();
    form.set('file', body, filename);
    return fetch(`${service.url}/v1/scans/file`, { method: 'POST', headers: authHeaders(KEY_A), body: form });
  }

  /** Polls like a client does, and checks on every poll that the service still answers /healthz. */
  async function verdictOf(id: string, timeoutMs = 60_000): Promise<NativeScan> {
    return waitFor(async () => {
      healthChecks.push((await fetch(`${service.url}/healthz`)).status);
      const response = await fetch(`${service.url}/v1/scans/${id}`, { headers: authHeaders(KEY_A) });
      assert.equal(response.status, 200);
      const scan = (await response.json()) as NativeScan;
      return scan.status === 'pending' ? undefined : scan;
    }, timeoutMs);
  }

  async function scanFile(file: string): Promise<NativeScan> {
    const response = await uploadNative(await openAsBlob(file), path.basename(file));
    assert.equal(response.status, 202, await response.clone().text());
    return verdictOf(((await response.json()) as { id: string }).id);
  }

  async function scanUrl(name: string): Promise<NativeScan> {
    const response = await fetch(`${service.url}/v1/scans/url`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${files.origin}/${name}` }),
    });
    assert.equal(response.status, 202, await response.clone().text());
    return verdictOf(((await response.json()) as { id: string }).id);
  }

  test('zip bombs end unscannable (limits_exceeded) with memory bounded, never clean', async (t) => {
    const single = await zipBomb(dir, 'single-member-bomb.zip', 450 * 1000 * 1000);
    const nested = await nestedZipBomb(dir, 'nested-bomb.zip', 40 * 1000 * 1000, 12);
    assert.ok(
      (await stat(single)).size < LIMIT && (await stat(nested)).size < LIMIT,
      'the bombs fit the upload limit',
    );
    const baseline = process.memoryUsage().rss;
    const sampler = sampleRss(clamdPid);
    const verdicts = await Promise.all([scanFile(single), scanFile(nested)]);
    const peaks = sampler.stop();
    t.diagnostic(
      `peak RSS: service +${Math.round((peaks.selfBytes - baseline) / MiB)} MiB, clamd ${Math.round(peaks.otherBytes / MiB)} MiB`,
    );
    for (const verdict of verdicts) {
      assert.equal(verdict.status, 'unscannable', JSON.stringify(verdict));
      assert.equal(verdict.reason, 'limits_exceeded');
      assert.match(verdict.finding ?? '', /^Heuristics\.Limits\.Exceeded\.Max(ScanSize|FileSize)$/);
    }
    assert.ok(
      peaks.selfBytes - baseline < 128 * MiB,
      `service RSS grew by ${(peaks.selfBytes - baseline) / MiB} MiB`,
    );
    assert.ok(
      peaks.otherBytes > 0 && peaks.otherBytes < 512 * MiB,
      `clamd peak RSS ${peaks.otherBytes / MiB} MiB`,
    );
    assert.ok(
      healthChecks.length > 0 && healthChecks.every((status) => status === 200),
      'the service stayed up',
    );
    // clamd's temp directory (extracted members) is emptied after each scan.
    assert.deepEqual(await readdir(path.join(service.dataDir, 'clamd', 'tmp')), []);
  });

  test('EICAR behind 200 MB of zeros in one zip member is found, not truncated away', async () => {
    const hidden = await zipBomb(dir, 'eicar-after-zeros.zip', 200 * 1000 * 1000, { tail: eicarBytes() });
    const verdict = await scanFile(hidden);
    assert.equal(verdict.status, 'infected', JSON.stringify(verdict));
    assert.match(verdict.finding ?? '', /^Eicar/);
  });

  test('EICAR deflated in a zip with Zip64 local headers is unscannable, not clean', async () => {
    // clamd 1.4.6 skips members whose local header is Zip64 and answers OK; scangate's shipped
    // signature (and its own check of the outer bytes) turns that OK into unsupported_format.
    const zip64 = await zipBomb(dir, 'eicar-zip64.zip', 8192, { tail: eicarBytes(), zip64: true });
    const verdict = await scanFile(zip64);
    assert.equal(verdict.status, 'unscannable', JSON.stringify(verdict));
    assert.equal(verdict.reason, 'unsupported_format');
  });

  test('a password-protected zip is unscannable (encrypted), whatever it holds', async () => {
    for (const [name, content] of [
      ['encrypted-eicar.zip', eicarBytes()],
      ['encrypted-text.zip', Buffer.from('quarterly report\n'.repeat(100))],
    ] as const) {
      const verdict = await scanFile(await passwordZip(dir, name, content));
      assert.equal(verdict.status, 'unscannable', `${name}: ${JSON.stringify(verdict)}`);
      assert.equal(verdict.reason, 'encrypted');
      assert.equal(verdict.finding, 'Heuristics.Encrypted.Zip');
    }
  });

  test('an archive nested deeper than MaxRecursion (17) is unscannable (limits_exceeded)', async () => {
    // Compressible content: deflated, its bytes are visible only after unpacking all 20 levels.
    const harmless = await nestedZip(dir, 'deep-text', Buffer.from('nothing to see\n'.repeat(500)), 20);
    const hiddenEicar = await nestedZip(
      dir,
      'deep-eicar',
      Buffer.concat([eicarBytes(), Buffer.alloc(8192, 0x41)]),
      20,
    );
    for (const file of [harmless, hiddenEicar]) {
      const verdict = await scanFile(file);
      assert.equal(verdict.status, 'unscannable', `${path.basename(file)}: ${JSON.stringify(verdict)}`);
      assert.equal(verdict.reason, 'limits_exceeded');
      assert.equal(verdict.finding, 'Heuristics.Limits.Exceeded.MaxRecursion');
    }
  });

  test('a file exactly at the size limit is scanned; one byte more is refused (413) or too_large', async () => {
    const atLimit = randomBytes(LIMIT);
    const overLimit = randomBytes(LIMIT + 1);
    await writeFile(path.join(dir, 'at-limit.bin'), atLimit);
    await writeFile(path.join(dir, 'over-limit.bin'), overLimit);

    const accepted = await uploadNative(new Blob([atLimit]), 'at-limit.bin');
    assert.equal(accepted.status, 202);
    const scanned = await verdictOf(((await accepted.json()) as { id: string }).id);
    assert.equal(scanned.status, 'clean');
    assert.equal(scanned.size, LIMIT);
    assert.equal((await scanUrl('at-limit.bin')).status, 'clean');
    const syncAt = await fetch(`${service.url}/api/v1/scan/sync/binary`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/octet-stream' },
      body: atLimit,
    });
    assert.deepEqual(await syncAt.json(), { status: 'clean', size: LIMIT });

    const refusals: Response[] = [await uploadNative(new Blob([overLimit]), 'over-limit.bin')];
    const bucketscan = new FormData();
    bucketscan.set('file', new Blob([overLimit]), 'over-limit.bin');
    refusals.push(
      await fetch(`${service.url}/api/v1/scans/initiate`, {
        method: 'POST',
        headers: authHeaders(KEY_A, 'x-api-key'),
        body: bucketscan,
      }),
    );
    refusals.push(
      await fetch(`${service.url}/api/v1/scan/sync/binary`, {
        method: 'POST',
        headers: { ...authHeaders(KEY_A), 'content-type': 'application/octet-stream' },
        body: overLimit,
      }),
    );
    for (const response of refusals) {
      assert.equal(response.status, 413);
      assert.equal(((await response.json()) as { code: string }).code, 'payload_too_large');
    }
    const overUrl = await scanUrl('over-limit.bin');
    assert.equal(overUrl.status, 'unscannable');
    assert.equal(overUrl.reason, 'too_large');
    assert.deepEqual(
      await readdir(path.join(service.dataDir, 'uploads')),
      [],
      'refused uploads leave no blob',
    );
  });

  test('a 0-byte upload is refused with 400 empty_file on every upload route', async () => {
    const empty = () => {
      const form = new FormData();
      form.set('file', new Blob([]), 'empty.txt');
      return form;
    };
    const responses = [
      await uploadNative(new Blob([]), 'empty.txt'),
      await fetch(`${service.url}/api/v1/scans/initiate`, {
        method: 'POST',
        headers: authHeaders(KEY_A),
        body: empty(),
      }),
      await fetch(`${service.url}/api/v1/scan/sync/form`, {
        method: 'POST',
        headers: authHeaders(KEY_A),
        body: empty(),
      }),
      await fetch(`${service.url}/api/v1/scan/sync/binary`, {
        method: 'POST',
        headers: { ...authHeaders(KEY_A), 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(0),
      }),
    ];
    for (const response of responses) {
      assert.equal(response.status, 400);
      assert.equal(((await response.json()) as { code: string }).code, 'empty_file');
    }
  });
});

describe('ENCRYPTED_VERDICT=infected', () => {
  test('a password-protected zip is infected (Heuristics.Encrypted.Zip)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'scangate-encrypted-'));
    const service = await startTestService({ engine: { encryptedVerdict: 'infected' } });
    try {
      const form = new FormData();
      form.set(
        'file',
        await openAsBlob(await passwordZip(dir, 'secret.zip', Buffer.from('payroll\n'))),
        'secret.zip',
      );
      const submitted = await fetch(`${service.url}/v1/scans/file`, {
        method: 'POST',
        headers: authHeaders(KEY_A),
        body: form,
      });
      const { id } = (await submitted.json()) as { id: string };
      const verdict = await waitFor(async () => {
        const scan = (await (
          await fetch(`${service.url}/v1/scans/${id}`, { headers: authHeaders(KEY_A) })
        ).json()) as NativeScan;
        return scan.status === 'pending' ? undefined : scan;
      });
      assert.equal(verdict.status, 'infected');
      assert.equal(verdict.finding, 'Heuristics.Encrypted.Zip');
    } finally {
      await service.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

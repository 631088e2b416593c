import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ClamdPool } from '../../src/engine/clamd/pool.ts';
import {
  CONTAINER_FORMATS,
  rarMarkedOf,
  tarOf,
  tarOfMembers,
  zipOf,
} from '../../src/engine/container-samples.ts';
import { databaseFiles } from '../../src/engine/database-directory.ts';
import { formatProbeBytes } from '../../src/engine/format-probe.ts';
import { runFormatSelfTest, summarizeFormatSelfTest } from '../../src/engine/format-self-test.ts';
import { shippedSignatureFiles, writeShippedSignatures } from '../../src/engine/shipped-signatures.ts';
import { unsupportedFormatOf } from '../../src/engine/unsupported-formats.ts';
import type { Verdict } from '../../src/engine/verdict.ts';
import { startTestClamd, type TestClamd } from '../support/clamd.ts';
import { eicarBytes } from '../support/eicar.ts';

/** EICAR followed by text, so that compressors really compress it (a bare EICAR is often stored). */
const EICAR_PADDED = Buffer.concat([eicarBytes(), formatProbeBytes().subarray(0, 4000)]);
const HARMLESS = Buffer.from('quarterly report, nothing to see\n'.repeat(300));

let clamd: TestClamd;
let pool: ClamdPool;

before(async () => {
  clamd = await startTestClamd();
  pool = new ClamdPool([clamd.socketPath], {
    connectTimeoutMs: 2000,
    scanTimeoutMs: 60_000,
    healthCheckIntervalMs: 60_000,
    encryptedVerdict: 'unscannable',
  });
  await pool.start();
});

after(async () => {
  await pool.close();
  await clamd.stop();
});

async function verdictOf(bytes: Buffer): Promise<Verdict> {
  return (await pool.scan(Readable.from([bytes]), { maxBytes: 64 * 1024 * 1024 })).verdict;
}

function assertUnsupported(verdict: Verdict, format: string): void {
  assert.equal(verdict.status, 'unscannable', JSON.stringify(verdict));
  assert.equal(verdict.reason, 'unsupported_format');
  assert.equal(unsupportedFormatOf(verdict.finding ?? ''), format);
  assert.match(verdict.detail ?? '', new RegExp(`^${format}: `));
}

const zip64Of = (content: Buffer, name: string) => zipOf(content, name, { zip64: true });

describe('formats clamd cannot read are unscannable at any depth', () => {
  test('the self-test finds the probe in every container clamd reads, and no format is blind', async () => {
    const report = await runFormatSelfTest(pool);
    const summary = summarizeFormatSelfTest(report);
    console.log('format self-test:', JSON.stringify(summary));
    assert.equal(report.probeDetected, true);
    assert.deepEqual(summary.error, []);
    for (const format of ['zip', 'gzip', 'tar']) assert.ok(summary.readable.includes(format), format);
    for (const format of ['Zip64', 'zstd', 'RAR']) assert.ok(summary.unsupported.includes(format), format);
    // 7z's BZip2 coder is unreadable and hidden in the compressed header: every 7z is marked.
    if (report.formats.some((entry) => entry.format === '7z-bzip2' && entry.support !== 'not_produced'))
      assert.ok(summary.unsupported.includes('7z-bzip2'), '7z-bzip2');
    assert.deepEqual(summary.blind, []);
  });

  test('EICAR in every container the machine can write is never clean', async () => {
    for (const format of CONTAINER_FORMATS) {
      const wrapped = await format.wrap(EICAR_PADDED, 'eicar.txt');
      if (!wrapped) continue;
      const verdict = await verdictOf(wrapped);
      assert.notEqual(verdict.status, 'clean', `${format.name}: ${JSON.stringify(verdict)}`);
    }
  });

  test('a Zip64 zip is unsupported bare, in gzip, in a tar.gz and in another zip', async () => {
    const inner = zip64Of(EICAR_PADDED, 'eicar.txt');
    assertUnsupported(await verdictOf(inner), 'Zip64');
    assertUnsupported(await verdictOf(gzipSync(inner)), 'Zip64');
    assertUnsupported(await verdictOf(gzipSync(tarOf(inner, 'inner.zip'))), 'Zip64');
    assertUnsupported(await verdictOf(zipOf(inner, 'inner.zip')), 'Zip64');
  });

  test('a clean 7z is unsupported bare and inside a tar.gz: its coder cannot be seen', async () => {
    const sevenZip = CONTAINER_FORMATS.find((format) => format.name === '7z-bzip2');
    const inner = await sevenZip?.wrap(HARMLESS, 'report.txt');
    if (!inner) return; // no 7z tool on this machine: nothing to build
    assertUnsupported(await verdictOf(inner), '7z');
    assertUnsupported(await verdictOf(gzipSync(tarOf(inner, 'inner.7z'))), '7z');
  });

  test('zstd and RAR inside ordinary containers are unsupported', async () => {
    const { zstdCompressSync } = await import('node:zlib');
    // Harmless content: EICAR's bytes can stay verbatim in these (and are then found, rightly).
    assertUnsupported(await verdictOf(zipOf(zstdCompressSync(HARMLESS), 'x.zst')), 'Zstandard');
    assertUnsupported(await verdictOf(gzipSync(tarOf(rarMarkedOf(HARMLESS), 'x.rar'))), 'RAR');
  });

  test('an infected member still wins over a blind one in the same archive', async () => {
    // A tar holding a Zip64 zip (visible to the outer scan) and a gzipped EICAR (found only once
    // clamd has unpacked it): the unsupported finding comes first, the virus must be reported.
    const mixed = tarOfMembers([
      { name: 'blind.zip', content: zip64Of(HARMLESS, 'harmless.txt') },
      { name: 'eicar.gz', content: gzipSync(EICAR_PADDED) },
    ]);
    const verdict = await verdictOf(mixed);
    assert.equal(verdict.status, 'infected', JSON.stringify(verdict));
    assert.match(verdict.finding ?? '', /^Eicar/);
  });

  test('harmless text in ordinary containers stays clean', async () => {
    for (const bytes of [zipOf(HARMLESS, 'r.txt'), gzipSync(HARMLESS), tarOf(HARMLESS, 'r.txt'), HARMLESS]) {
      assert.equal((await verdictOf(bytes)).status, 'clean');
    }
  });
});

describe('shipped signature files', () => {
  test('are written once and left alone when unchanged (their mtime feeds directory fingerprints)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'scangate-shipped-'));
    try {
      await writeShippedSignatures(dir);
      const before = await Promise.all(
        shippedSignatureFiles().map((file) => stat(path.join(dir, file.name))),
      );
      await writeShippedSignatures(dir);
      const after = await Promise.all(shippedSignatureFiles().map((file) => stat(path.join(dir, file.name))));
      assert.deepEqual(
        after.map((info) => info.mtimeMs),
        before.map((info) => info.mtimeMs),
      );
      for (const file of shippedSignatureFiles()) {
        assert.equal(await readFile(path.join(dir, file.name), 'utf8'), file.content);
      }
      // Alone they are no database: clamd must not start on them, nor a directory look loaded.
      assert.deepEqual(await databaseFiles(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { runCanary } from '../../src/engine/canary.ts';
import { parseClamdAddress } from '../../src/engine/clamd/address.ts';
import { clamdCommand } from '../../src/engine/clamd/connection.ts';
import { ClamdPool, type ClamdPoolOptions } from '../../src/engine/clamd/pool.ts';
import { offlineSignatureVersion } from '../../src/engine/signatures.ts';
import { startTestClamd, type TestClamd } from '../support/clamd.ts';
import { eicarBytes, gzipOf, nestedZipOf, randomStream, zipOf } from '../support/eicar.ts';

const MiB = 1024 * 1024;
const TESTFILES = '/usr/share/clamav-testfiles';

function poolOptions(overrides: Partial<ClamdPoolOptions> = {}): ClamdPoolOptions {
  return {
    connectTimeoutMs: 2000,
    scanTimeoutMs: 60_000,
    healthCheckIntervalMs: 60_000,
    encryptedVerdict: 'unscannable',
    ...overrides,
  };
}

function bytes(...buffers: Buffer[]): Readable {
  return Readable.from(buffers);
}

// One clamd for the verdict tests, with scangate's limit at 64 MiB (clamd's limits are 64 MiB + 1).
const LIMIT = 64 * MiB;
let clamd: TestClamd;
let pool: ClamdPool;

before(async () => {
  clamd = await startTestClamd({ maxFileSizeBytes: LIMIT });
  pool = new ClamdPool([clamd.socketPath], poolOptions());
  await pool.start();
});

after(async () => {
  await pool.close();
  await clamd.stop();
});

describe('verdicts from a real clamd', () => {
  test('EICAR is infected, found by its signature name (with .UNOFFICIAL)', async () => {
    const outcome = await pool.scan(bytes(eicarBytes()), { maxBytes: LIMIT });
    assert.equal(outcome.verdict.status, 'infected');
    assert.match(outcome.verdict.finding ?? '', /^Eicar/);
    assert.equal(outcome.size, 68);
    assert.equal(outcome.sha256, createHash('sha256').update(eicarBytes()).digest('hex'));
    assert.equal(outcome.engine, 'clamav');
    assert.match(outcome.engineVersion, /^\d+\.\d+/);
    assert.equal(outcome.signatureVersion, String(offlineSignatureVersion().cvdVersion));
  });

  test('EICAR inside zip and gzip is infected', async () => {
    for (const archive of [await zipOf({ 'eicar.com': eicarBytes() }), gzipOf(eicarBytes())]) {
      const outcome = await pool.scan(bytes(archive), { maxBytes: LIMIT });
      assert.equal(outcome.verdict.status, 'infected');
      assert.match(outcome.verdict.finding ?? '', /^Eicar/);
      assert.equal(outcome.size, archive.length);
    }
  });

  test('EICAR sent one byte per chunk is still found (framing)', async () => {
    const data = eicarBytes();
    const oneByteChunks = Readable.from([...data].map((byte) => Buffer.from([byte])));
    const outcome = await pool.scan(oneByteChunks, { maxBytes: LIMIT });
    assert.equal(outcome.verdict.status, 'infected');
    assert.equal(outcome.size, 68);
  });

  test('an empty input is scanned and clean', async () => {
    const outcome = await pool.scan(bytes(), { maxBytes: LIMIT });
    assert.deepEqual(outcome.verdict, { status: 'clean' });
    assert.equal(outcome.size, 0);
    assert.equal(outcome.sha256, createHash('sha256').digest('hex'));
  });

  test('every clamav-testfiles sample is infected', { skip: !existsSync(TESTFILES) }, async () => {
    const files = readdirSync(TESTFILES);
    assert.ok(files.length >= 40, `only ${files.length} samples`);
    for (const name of files) {
      const outcome = await pool.scan(createReadStream(path.join(TESTFILES, name)), { maxBytes: LIMIT });
      assert.equal(outcome.verdict.status, 'infected', name);
      assert.match(outcome.verdict.finding ?? '', /^ClamAV-Test-File/, name);
    }
  });

  test('a password-protected zip is unscannable (encrypted), or infected when so configured', async () => {
    const encrypted = await zipOf({ 'eicar.com': eicarBytes() }, { password: 'infected' });
    const outcome = await pool.scan(bytes(encrypted), { maxBytes: LIMIT });
    assert.equal(outcome.verdict.status, 'unscannable');
    assert.equal(outcome.verdict.reason, 'encrypted');
    assert.equal(outcome.verdict.finding, 'Heuristics.Encrypted.Zip');

    const strict = new ClamdPool([clamd.socketPath], poolOptions({ encryptedVerdict: 'infected' }));
    await strict.start();
    try {
      const judged = await strict.scan(bytes(encrypted), { maxBytes: LIMIT });
      assert.deepEqual(judged.verdict, { status: 'infected', finding: 'Heuristics.Encrypted.Zip' });
    } finally {
      await strict.close();
    }
  });

  test('the canary finds EICAR through the same path', async () => {
    const canary = await runCanary(pool);
    assert.equal(canary.ok, true, canary.detail);
    assert.match(canary.finding ?? '', /^Eicar/);
  });

  test('PING, VERSION and STATS', async () => {
    const address = parseClamdAddress(clamd.socketPath);
    const options = { connectTimeoutMs: 1000, replyTimeoutMs: 5000 };
    assert.equal(await clamdCommand(address, 'PING', options), 'PONG');
    assert.match(await clamdCommand(address, 'VERSION', options), /^ClamAV [\d.]+\/\d+\//);
    assert.match(await clamdCommand(address, 'STATS', options), /^POOLS:[\s\S]*END$/);
  });

  test('status reports health, versions and the signature date', async () => {
    const status = await pool.status();
    assert.deepEqual(status.addresses, [
      {
        address: clamd.socketPath,
        healthy: true,
        engineVersion: status.engineVersion,
        signatureVersion: String(offlineSignatureVersion().cvdVersion),
        inFlight: 0,
      },
    ]);
    assert.equal(status.signatureVersion, String(offlineSignatureVersion().cvdVersion));
    assert.ok(status.signatureDate && Math.abs(status.signatureDate.getTime() - Date.now()) < 24 * 3600_000);
    assert.equal(await pool.verdictCacheKey(), `clamav/${status.engineVersion}/${status.signatureVersion}`);
  });
});

test('nesting deeper than MaxRecursion is unscannable (limits_exceeded), not clean', async () => {
  const shallow = await startTestClamd({ clamdOptions: { MaxRecursion: 3 } });
  const shallowPool = new ClamdPool([shallow.socketPath], poolOptions());
  try {
    await shallowPool.start();
    // Padding makes zip deflate the file: a stored EICAR would be found in the raw outer bytes.
    const payload = Buffer.concat([eicarBytes(), Buffer.alloc(4096, 0x20)]);
    const nested = await nestedZipOf('eicar.txt', payload, 5);
    const outcome = await shallowPool.scan(bytes(nested), { maxBytes: LIMIT });
    assert.equal(outcome.verdict.status, 'unscannable');
    assert.equal(outcome.verdict.reason, 'limits_exceeded');
    assert.equal(outcome.verdict.finding, 'Heuristics.Limits.Exceeded.MaxRecursion');
    // Within the limit the same content is found.
    const flat = await zipOf({ 'eicar.txt': payload });
    assert.equal((await shallowPool.scan(bytes(flat), { maxBytes: LIMIT })).verdict.status, 'infected');
  } finally {
    await shallowPool.close();
    await shallow.stop();
  }
});

test('a 50 MB random file streams through and is clean', async () => {
  const hash = createHash('sha256');
  const total = 50 * MiB;
  const input = randomStream(total, { onChunk: (chunk) => hash.update(chunk) });
  const outcome = await pool.scan(input, { maxBytes: LIMIT });
  assert.deepEqual(outcome.verdict, { status: 'clean' });
  assert.equal(outcome.size, total);
  assert.equal(outcome.sha256, hash.digest('hex'));
  assert.ok(outcome.transferMs > 0 && outcome.scanMs > 0);
});

describe('size limits', () => {
  // scangate's limit is 1 MiB; clamd's MaxFileSize is pinned to 1 MiB + 1 and StreamMaxLength raised
  // to 2 MiB so that clamd's MaxFileSize can be reached when a caller passes a larger maxBytes.
  const SMALL = MiB;
  let small: TestClamd;
  let smallPool: ClamdPool;
  before(async () => {
    small = await startTestClamd({
      maxFileSizeBytes: SMALL,
      clamdOptions: { StreamMaxLength: '2M', MaxFileSize: SMALL + 1 },
    });
    smallPool = new ClamdPool([small.socketPath], poolOptions());
    await smallPool.start();
  });
  after(async () => {
    await smallPool.close();
    await small.stop();
  });

  test('a file of exactly the limit is scanned to its last byte', async () => {
    const tail = eicarBytes();
    const padding = randomStream(SMALL - tail.length);
    const input = Readable.from(
      (async function* () {
        yield* padding;
        yield tail;
      })(),
    );
    const outcome = await smallPool.scan(input, { maxBytes: SMALL });
    assert.equal(outcome.verdict.status, 'infected');
    assert.equal(outcome.size, SMALL);
  });

  test('one byte over the limit is unscannable too_large, without reading the rest', async () => {
    let produced = 0;
    const input = randomStream(64 * MiB, {
      chunkBytes: 64 * 1024,
      onChunk: (_chunk, soFar) => {
        produced = soFar;
      },
    });
    const outcome = await smallPool.scan(input, { maxBytes: SMALL });
    assert.equal(outcome.verdict.status, 'unscannable');
    assert.equal(outcome.verdict.reason, 'too_large');
    assert.equal(outcome.sha256, '');
    assert.ok(outcome.size > SMALL);
    assert.ok(produced < SMALL + MiB, `read ${produced} bytes of a 64 MiB input`);
    assert.ok(input.destroyed);
  });

  test("over clamd's MaxFileSize is too_large (a detection), not a silent OK", async () => {
    const outcome = await smallPool.scan(randomStream(SMALL + MiB / 2), { maxBytes: 64 * MiB });
    assert.equal(outcome.verdict.status, 'unscannable');
    assert.equal(outcome.verdict.reason, 'too_large');
    assert.equal(outcome.verdict.finding, 'Heuristics.Limits.Exceeded.MaxFileSize');
  });

  test("over clamd's StreamMaxLength is too_large, although clamd's reply is often lost to EPIPE", async () => {
    for (const chunkBytes of [16 * 1024, 256 * 1024, 4 * MiB]) {
      const outcome = await smallPool.scan(randomStream(8 * MiB, { chunkBytes }), { maxBytes: 64 * MiB });
      assert.equal(outcome.verdict.status, 'unscannable', `chunks of ${chunkBytes}`);
      assert.equal(outcome.verdict.reason, 'too_large', `chunks of ${chunkBytes}`);
      assert.equal(outcome.sha256, '');
    }
  });
});

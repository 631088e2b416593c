import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { NativeScan } from 'scangate/client';
import { clamdCommand } from '../../src/engine/clamd/connection.ts';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { offlineSignatureLines, writeOfflineSignatures } from '../../src/engine/signatures.ts';
import { passwordZip } from '../hardening/archive-fixtures.ts';
import { startTestClamd, type TestClamd } from '../support/clamd.ts';
import {
  authHeaders,
  KEY_A,
  KEY_B,
  startTestService,
  submitNativeUpload,
  type TestService,
  waitFor,
} from '../support/service.ts';

describe('verdict cache over real HTTP with a real clamd', () => {
  let clamd: TestClamd;
  let service: TestService;
  let fixtures: string;

  before(async () => {
    clamd = await startTestClamd();
    fixtures = await mkdtemp(path.join(tmpdir(), 'scangate-cache-'));
    // Health checks far apart: a signature reload must be noticed without waiting for one.
    service = await startTestService({
      engine: { addresses: [clamd.socketPath], healthCheckIntervalMs: 600_000 },
    });
  });
  after(async () => {
    await service.stop();
    await clamd.stop();
    await rm(fixtures, { recursive: true, force: true });
  });

  const scan = async (bytes: Buffer, key = KEY_A): Promise<NativeScan> => {
    const submitted = await submitNativeUpload(service.url, bytes, { key });
    assert.equal(submitted.status, 202);
    const { id } = (await submitted.json()) as { id: string };
    return waitFor(async () => {
      const view = (await (
        await fetch(`${service.url}/v1/scans/${id}`, { headers: authHeaders(key) })
      ).json()) as NativeScan;
      return view.status === 'pending' ? undefined : view;
    });
  };

  test('the same clean bytes again are answered from the cache, for any tenant', async () => {
    const bytes = randomBytes(200_000);
    const first = await scan(bytes);
    assert.equal(first.status, 'clean');
    assert.equal(first.cached, false);
    const second = await scan(bytes);
    assert.deepEqual(
      { status: second.status, cached: second.cached, sha256: second.sha256 },
      { status: 'clean', cached: true, sha256: first.sha256 },
    );
    assert.equal(second.signature_version, first.signature_version);
    // The cache holds verdicts about bytes, not tenants' data: the other tenant gets it too.
    assert.equal((await scan(bytes, KEY_B)).cached, true);
  });

  test('an infected verdict is cached with its finding', async () => {
    const first = await scan(eicarBytes());
    assert.equal(first.status, 'infected');
    const second = await scan(eicarBytes());
    assert.equal(second.status, 'infected');
    assert.equal(second.cached, true);
    assert.equal(second.finding, first.finding);
  });

  test('an unscannable verdict is never cached', async () => {
    const encrypted = await readFile(await passwordZip(fixtures, 'secret.zip', randomBytes(4096)));
    for (let attempt = 0; attempt < 2; attempt++) {
      const verdict = await scan(encrypted);
      assert.equal(verdict.status, 'unscannable');
      assert.equal(verdict.cached, false, `attempt ${attempt + 1} must be a real scan`);
    }
  });

  test('a signature update invalidates the cache: bytes cached clean become infected', async () => {
    const bytes = randomBytes(10_000);
    await scan(bytes);
    const cachedClean = await scan(bytes);
    assert.deepEqual([cachedClean.status, cachedClean.cached], ['clean', true]);

    // A new database that knows these bytes (an MD5:size signature), with a new version.
    const md5 = createHash('md5').update(bytes).digest('hex');
    const base = offlineSignatureLines();
    await writeOfflineSignatures(path.join(clamd.dir, 'signatures'), {
      lines: { ndb: base.ndb, hdb: `${base.hdb}${md5}:${bytes.length}:Scangate.Test.NewSignature\n` },
    });
    const clamdAddress = { kind: 'unix', path: clamd.socketPath } as const;
    const timeouts = { connectTimeoutMs: 2000, replyTimeoutMs: 2000 };
    assert.match(await clamdCommand(clamdAddress, 'RELOAD', timeouts), /RELOADING/);
    await waitFor(async () => {
      const version = await clamdCommand(clamdAddress, 'VERSION', timeouts);
      return version.includes(`/${cachedClean.signature_version}/`) ? undefined : true;
    });

    const rescanned = await scan(bytes);
    assert.equal(rescanned.status, 'infected');
    assert.equal(rescanned.finding, 'Scangate.Test.NewSignature.UNOFFICIAL');
    assert.equal(rescanned.cached, false);
    assert.notEqual(rescanned.signature_version, cachedClean.signature_version);
  });
});

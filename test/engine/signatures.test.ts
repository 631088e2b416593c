import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eicarBytes } from '../../src/engine/eicar.ts';
import {
  ensureOfflineSignatures,
  offlineSignatureLines,
  offlineSignaturesCurrent,
  offlineSignatureVersion,
  writeOfflineSignatures,
} from '../../src/engine/signatures.ts';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'scangate-sigs-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('offline signatures', () => {
  test('the EICAR body signature is the hex of the 68 bytes', () => {
    const { ndb, hdb } = offlineSignatureLines();
    assert.equal(ndb, `Eicar-Signature:0:*:${eicarBytes().toString('hex')}\n`);
    assert.match(hdb, /^aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n$/);
  });

  test('the database version is derived from the content, deterministically', () => {
    const first = offlineSignatureVersion();
    assert.deepEqual(offlineSignatureVersion(), first);
    assert.ok(first.cvdVersion >= 100_000 && first.cvdVersion < 1_000_000);
  });

  test('packed as an unsigned daily.cud, then current until it changes', async () => {
    const dir = path.join(root, 'cud');
    await writeOfflineSignatures(dir);
    assert.deepEqual((await readdir(dir)).sort(), ['.scangate-signatures.json', 'daily.cud']);
    const header = (await readFile(path.join(dir, 'daily.cud'))).subarray(0, 512).toString('latin1');
    assert.match(header, new RegExp(`^ClamAV-VDB:[^:]+:${offlineSignatureVersion().cvdVersion}:2:`));
    assert.equal(await offlineSignaturesCurrent(dir), true);
    assert.equal(await ensureOfflineSignatures(dir), false);
    // A day later the build date would look stale: rebuilt.
    assert.equal(await offlineSignaturesCurrent(dir, Date.now() + 25 * 3600_000), false);
    // Someone removed the database: rewritten.
    await rm(path.join(dir, 'daily.cud'));
    assert.equal(await ensureOfflineSignatures(dir), true);
    assert.equal(await offlineSignaturesCurrent(dir), true);
  });

  test('falls back to plain .ndb/.hdb files when sigtool fails', async () => {
    const dir = path.join(root, 'plain');
    await writeOfflineSignatures(dir, { sigtool: '/nonexistent/sigtool' });
    assert.deepEqual((await readdir(dir)).sort(), [
      '.scangate-signatures.json',
      'scangate-test.hdb',
      'scangate-test.ndb',
    ]);
    assert.equal(await readFile(path.join(dir, 'scangate-test.ndb'), 'utf8'), offlineSignatureLines().ndb);
    assert.equal(await offlineSignaturesCurrent(dir), true);
    // Once sigtool works again the plain files give way to the packed database.
    await writeOfflineSignatures(dir);
    assert.deepEqual((await readdir(dir)).sort(), ['.scangate-signatures.json', 'daily.cud']);
  });

  test('a stamp from other content is outdated', async () => {
    const dir = path.join(root, 'stale');
    await writeOfflineSignatures(dir);
    const stampFile = path.join(dir, '.scangate-signatures.json');
    const stamp = JSON.parse(await readFile(stampFile, 'utf8'));
    await writeFile(stampFile, JSON.stringify({ ...stamp, digest: 'something-else' }));
    assert.equal(await offlineSignaturesCurrent(dir), false);
  });
});

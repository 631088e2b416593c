import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { runCanary } from '../../src/engine/canary.ts';
import { parseClamdAddress } from '../../src/engine/clamd/address.ts';
import { clamdCommand } from '../../src/engine/clamd/connection.ts';
import { ManagedClamd } from '../../src/engine/clamd/managed.ts';
import { createEngine } from '../../src/engine/create-engine.ts';
import { shippedSignaturesDigest } from '../../src/engine/shipped-signatures.ts';
import { offlineSignatureVersion, writeOfflineSignatures } from '../../src/engine/signatures.ts';
import { engineTestConfig, startTestClamd } from '../support/clamd.ts';
import { eicarBytes } from '../support/eicar.ts';
import { waitFor } from '../support/service.ts';

const MiB = 1024 * 1024;
const eicar = () => Readable.from([eicarBytes()]);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'scangate-managed-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('createEngine', () => {
  test('without addresses it starts its own clamd on the offline signatures', async () => {
    const config = engineTestConfig(dataDir, {}, 100 * MiB);
    const handle = await createEngine(config);
    const managed = handle.managed;
    assert.ok(managed);
    const pid = managed.pid;
    assert.ok(pid && alive(pid));
    try {
      assert.equal(managed.socketPath, path.join(dataDir, 'clamd', 'clamd.sock'));
      assert.ok(existsSync(path.join(dataDir, 'signatures', 'daily.cud')));
      const conf = await readFile(path.join(dataDir, 'clamd', 'clamd.conf'), 'utf8');
      assert.match(conf, new RegExp(`^DatabaseDirectory ${path.join(dataDir, 'signatures')}$`, 'm'));
      assert.match(conf, new RegExp(`^StreamMaxLength ${100 * MiB + 1}$`, 'm'));
      assert.match(conf, /^AlertExceedsMax yes$/m);

      const outcome = await handle.engine.scan(eicar(), { maxBytes: MiB });
      assert.equal(outcome.verdict.status, 'infected');
      assert.match(outcome.verdict.finding ?? '', /^Eicar/);
      assert.equal((await runCanary(handle.engine)).ok, true);
      const status = await handle.engine.status();
      assert.equal(status.signatureVersion, String(offlineSignatureVersion().cvdVersion));
      // The managed clamd's key also names the files it loaded (custom files keep the version),
      // and the version of scangate's shipped signature files loaded with them.
      assert.match(
        await handle.engine.verdictCacheKey(),
        new RegExp(
          `^clamav/${status.engineVersion}/${status.signatureVersion}/[0-9a-f]{16}\\+scangate\\.${shippedSignaturesDigest()}$`,
        ),
      );
      assert.equal(outcome.signatureDatabase, 'scangate-test');
      // Every clamd thread, scanner threads included, runs at CLAMD_NICE (default 10).
      const threads = await readdir(`/proc/${pid}/task`);
      assert.ok(threads.length > 1);
      for (const thread of threads) {
        const threadStat: string = await readFile(`/proc/${pid}/task/${thread}/stat`, 'utf8');
        assert.equal(
          threadStat.slice(threadStat.lastIndexOf(')') + 2).split(' ')[16],
          '10',
          `thread ${thread}`,
        );
      }
    } finally {
      await handle.close();
    }
    assert.equal(alive(pid), false);
    assert.equal(existsSync(managed.socketPath), false);
  });

  test('with addresses it uses them and starts nothing', async () => {
    const clamd = await startTestClamd();
    try {
      const handle = await createEngine(engineTestConfig(dataDir, { addresses: [clamd.socketPath] }));
      try {
        assert.equal(handle.managed, undefined);
        assert.equal((await handle.engine.scan(eicar(), { maxBytes: MiB })).verdict.status, 'infected');
        assert.equal(existsSync(path.join(dataDir, 'clamd')), false);
      } finally {
        await handle.close();
      }
    } finally {
      await clamd.stop();
    }
  });

  test('the managed clamd is restarted after being killed, and scans work again', async () => {
    const handle = await createEngine(engineTestConfig(dataDir), undefined, {
      clamdOptions: { MaxThreads: 2 },
    });
    const managed = handle.managed!;
    try {
      const firstPid = managed.pid!;
      const died = once(managed, 'exit');
      const restarted = managed.nextReady();
      process.kill(firstPid, 'SIGKILL');
      await died;
      await assert.rejects(handle.engine.scan(eicar(), { maxBytes: MiB }));
      const secondPid = await restarted;
      assert.notEqual(secondPid, firstPid);
      assert.equal(managed.pid, secondPid);
      assert.equal((await handle.engine.scan(eicar(), { maxBytes: MiB })).verdict.status, 'infected');
      assert.equal((await runCanary(handle.engine)).ok, true);
    } finally {
      await handle.close();
    }
  });
});

describe('ManagedClamd', () => {
  async function options() {
    const signatures = path.join(dataDir, 'signatures');
    await writeOfflineSignatures(signatures);
    return {
      dir: path.join(dataDir, 'clamd'),
      clamdBinary: '/usr/sbin/clamd',
      databaseDirectory: signatures,
      maxFileSizeBytes: 10 * MiB,
      maxThreads: 2,
      scanTimeoutMs: 30_000,
      stopGraceMs: 5_000,
    };
  }

  test('a clamd left running by a killed scangate is stopped before a new one starts', async () => {
    const first = new ManagedClamd(await options());
    await first.start();
    // Stand-in for an orphan: clamd run with the same config by a process that is gone (here: us).
    await first.stop();
    const orphan = spawn('/usr/sbin/clamd', ['--config-file', first.confPath], { stdio: 'ignore' });
    const orphanExited = once(orphan, 'exit');
    for (let tries = 0; tries < 200; tries++) {
      const pong = await clamdCommand(parseClamdAddress(first.socketPath), 'PING', {
        connectTimeoutMs: 500,
        replyTimeoutMs: 1000,
      }).catch(() => '');
      if (pong === 'PONG') break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const second = new ManagedClamd(await options());
    try {
      await second.start();
      await orphanExited;
      assert.notEqual(second.pid, orphan.pid);
      const pong = await clamdCommand(parseClamdAddress(second.socketPath), 'PING', {
        connectTimeoutMs: 500,
        replyTimeoutMs: 1000,
      });
      assert.equal(pong, 'PONG');
    } finally {
      await second.stop();
      orphan.kill('SIGKILL');
    }
  });

  test('a clamd that cannot start (no signatures) is reported, not left behind', async () => {
    const empty = path.join(dataDir, 'empty');
    await mkdir(empty);
    const managed = new ManagedClamd({ ...(await options()), databaseDirectory: empty });
    await assert.rejects(managed.start(), /clamd exited during start.*(database|Can't open)/i);
    assert.equal(managed.pid, undefined);
  });

  test('stop ends clamd with SIGTERM and removes its socket; no restart follows', async () => {
    const managed = new ManagedClamd(await options());
    let restarted = false;
    managed.on('exit', () => {
      restarted = true;
    });
    await managed.start();
    const pid = managed.pid!;
    await managed.stop();
    assert.equal(alive(pid), false);
    assert.equal(managed.pid, undefined);
    assert.equal(existsSync(managed.socketPath), false);
    assert.equal(restarted, false);
  });
});

describe('signatures kept by someone else (SIGNATURES=system)', () => {
  test('with an empty directory clamd waits; the first database starts it without a restart', async () => {
    const directory = path.join(dataDir, 'system-signatures');
    await mkdir(directory, { recursive: true });
    const config = engineTestConfig(dataDir);
    config.signatures.mode = 'system';
    config.engine.signatureDirs = [directory];
    const handle = await createEngine(config, undefined, { signatureWatchIntervalMs: 100 });
    try {
      assert.equal(handle.signatures.status().databaseLoaded, false);
      assert.equal(handle.managed?.pid, undefined);
      // Never clean without a database: the scan fails as retryable engine_unavailable.
      await assert.rejects(handle.engine.scan(eicar(), { maxBytes: MiB }), { code: 'engine_unavailable' });
      // What a freshclam service outside scangate would do: a database appears in the directory.
      await writeOfflineSignatures(directory);
      // databaseLoaded can turn true a moment before the reload's outcome is recorded: wait for both.
      await waitFor(async () => {
        const status = handle.signatures.status();
        return status.databaseLoaded && status.lastReload !== undefined ? true : undefined;
      }, 30_000);
      assert.equal(handle.signatures.status().lastReload?.outcome, 'loaded');
      const outcome = await handle.engine.scan(eicar(), { maxBytes: MiB });
      assert.equal(outcome.verdict.status, 'infected');
      assert.equal(outcome.signatureDatabase, 'clamav');
    } finally {
      await handle.close();
    }
  });
});

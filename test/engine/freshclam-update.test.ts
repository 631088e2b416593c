/**
 * Signature updates for real: scangate runs Debian's freshclam against a loopback HTTP server (a
 * private mirror with every official database excluded, plus one DatabaseCustomURL), RELOADs its
 * clamd after each download, and keeps the last good database when the download fails.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SignatureLifecycle } from '../../src/engine/signature-lifecycle.ts';
import { writeOfflineSignatures } from '../../src/engine/signatures.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import { inLoopbackNamespace, runInLoopbackNamespace } from '../support/netns.ts';
import {
  authHeaders,
  KEY_A,
  startTestService,
  submitNativeUpload,
  type TestService,
  waitFor,
} from '../support/service.ts';

/** Bytes the offline test database does not detect, and the body signature that does. */
const MARKER = 'scangate-freshclam-update-sample-7d1f';
const SAMPLE = Buffer.from(`an ordinary looking text file\n${MARKER}\nend\n`);
const GOOD_NDB = `Scangate.Freshclam.Sample:0:*:${Buffer.from(MARKER).toString('hex')}\n`;
const CORRUPT_NDB = 'Scangate.Broken:0:*:not-hex-at-all\n';

interface NativeScan {
  status: string;
  finding: string | null;
  cached: boolean;
}

interface Ready {
  status: string;
  problems: string[];
  signatures: {
    source: string;
    test: boolean;
    loaded: boolean;
    last_update: { outcome: string; detail: string } | null;
    last_reload: { outcome: string; detail: string } | null;
  };
}

async function scan(service: TestService, bytes: Buffer): Promise<NativeScan> {
  const response = await submitNativeUpload(service.url, bytes);
  assert.equal(response.status, 202);
  const { id } = (await response.json()) as { id: string };
  return waitFor(async () => {
    const body = (await (
      await fetch(`${service.url}/v1/scans/${id}`, { headers: authHeaders(KEY_A) })
    ).json()) as NativeScan;
    return body.status === 'pending' ? undefined : body;
  });
}

async function readiness(service: TestService): Promise<{ code: number; body: Ready }> {
  const response = await fetch(`${service.url}/readyz`);
  return { code: response.status, body: (await response.json()) as Ready };
}

function metric(text: string, line: RegExp): number {
  const match = text.split('\n').find((candidate) => line.test(candidate));
  return match ? Number(match.split(' ').at(-1)) : 0;
}

if (!inLoopbackNamespace()) {
  test('freshclam suite runs in a loopback-only network namespace', async () => {
    const run = await runInLoopbackNamespace(import.meta.filename);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /ℹ fail 0/, run.output);
    assert.match(run.output, /ℹ pass [1-9]/, 'the namespaced run executed no test');
  });
} else {
  describe('managed freshclam (inside unshare -n)', () => {
    let mirror: TestHttpServer;
    let served: string | undefined;
    let service: TestService;
    let lifecycle: SignatureLifecycle;

    before(async () => {
      mirror = await startHttpServer((request, response) => {
        if (request.url === '/x.ndb' && served !== undefined) response.end(served);
        else response.writeHead(404).end('not here');
      });
      service = await startTestService({
        signatures: {
          mode: 'freshclam',
          privateMirrors: [mirror.origin],
          customUrls: [`${mirror.origin}/x.ndb`],
          excludeDatabases: ['main', 'daily', 'bytecode'],
        },
      });
      lifecycle = service.service.signatures as SignatureLifecycle;
    });
    after(async () => {
      await service?.stop();
      await mirror?.close();
    });

    test('with no database, nothing is ready until freshclam delivers one', async () => {
      // The mirror has nothing yet: freshclam's first run at start fails.
      const first = await waitFor(
        async () => (await readiness(service)).body.signatures.last_update ?? undefined,
        60_000,
      );
      assert.equal(first.outcome, 'failed');
      const { code, body } = await readiness(service);
      assert.equal(code, 503);
      assert.equal(body.signatures.loaded, false);
      assert.match(
        body.problems.join('\n'),
        /no signature database loaded: .*last update failed: freshclam exited with/s,
      );
      const conf = await readFile(path.join(service.dataDir, 'freshclam', 'freshclam.conf'), 'utf8');
      assert.match(conf, new RegExp(`^PrivateMirror ${mirror.origin}$`, 'm'));
      assert.match(conf, /^ExcludeDatabase daily$/m);
      assert.match(conf, new RegExp(`^DatabaseDirectory ${path.join(service.dataDir, 'clamav')}$`, 'm'));
    });

    test('a first download moves scangate to ready without a restart; a newer one reaches the verdict cache', async () => {
      // Stand-in for the official database (which needs the internet): the offline test database,
      // as if an earlier freshclam run had left it. Its stamp goes, so it is not refused as the test one.
      const directory = path.join(service.dataDir, 'clamav');
      await writeOfflineSignatures(directory);
      await rm(path.join(directory, '.scangate-signatures.json'));
      // A first custom database that detects nothing of interest.
      served = 'Scangate.Placeholder:0:*:00ff00ff00ff00ff00ff00ff00ff\n';
      const update = await lifecycle.updateNow();
      assert.equal(update.outcome, 'updated');
      const ready = await readiness(service);
      assert.equal(ready.code, 200, JSON.stringify(ready.body));
      assert.equal(ready.body.signatures.last_reload?.outcome, 'loaded');
      assert.equal(ready.body.signatures.test, false);

      const before = await scan(service, SAMPLE);
      assert.equal(before.status, 'clean');
      assert.equal((await scan(service, SAMPLE)).cached, true, 'the verdict cache is on for this database');

      served = GOOD_NDB;
      assert.equal((await lifecycle.updateNow()).outcome, 'updated');
      assert.equal((await readiness(service)).body.signatures.last_reload?.outcome, 'reloaded');
      const after = await scan(service, SAMPLE);
      assert.equal(after.status, 'infected', 'the new signature is active and the cached clean is not used');
      assert.equal(after.cached, false);
      assert.match(after.finding ?? '', /^Scangate\.Freshclam\.Sample/);
    });

    test('a corrupt download, a mirror gone and a database clamd refuses keep the last good database', async () => {
      served = CORRUPT_NDB;
      const corrupt = await lifecycle.updateNow();
      assert.equal(corrupt.outcome, 'failed');
      assert.match(corrupt.detail, /freshclam exited with 8/);
      served = undefined;
      assert.equal((await lifecycle.updateNow()).outcome, 'failed');

      // Written behind freshclam's back: freshclam tests what it downloads, clamd refuses this at RELOAD.
      const directory = path.join(service.dataDir, 'clamav');
      await writeFile(path.join(directory, 'broken.ndb'), CORRUPT_NDB);
      await lifecycle.checkNow();
      const { code, body } = await readiness(service);
      assert.equal(code, 200, 'the previous database is loaded and young: still ready');
      assert.equal(body.signatures.last_update?.outcome, 'failed');
      assert.equal(body.signatures.last_reload?.outcome, 'failed');
      assert.match(body.signatures.last_reload?.detail ?? '', /keeps the previous database/);
      const still = await scan(service, SAMPLE);
      assert.equal(still.status, 'infected');

      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      assert.equal(metric(metrics, /^scangate_signature_updates_total\{outcome="failed"\}/), 3);
      assert.equal(metric(metrics, /^scangate_signature_updates_total\{outcome="updated"\}/), 2);
      assert.equal(metric(metrics, /^scangate_signature_reloads_total\{outcome="failed"\}/), 1);
      assert.equal(metric(metrics, /^scangate_signatures_test /), 0);
      assert.ok(metric(metrics, /^scangate_signature_last_success_timestamp_seconds /) > 0);
      await rm(path.join(directory, 'broken.ndb'));
    });
  });
}

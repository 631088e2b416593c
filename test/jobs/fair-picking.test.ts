/**
 * Fairness end to end: one tenant holds slow downloads and a backlog; another tenant's EICAR upload
 * must not wait behind them. Asserts the order in which verdicts arrive, never a tight timing.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { NativeScan } from '../../src/client/types.ts';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import {
  authHeaders,
  KEY_A,
  KEY_B,
  startTestService,
  submitNativeUpload,
  type TestService,
  waitFor,
} from '../support/service.ts';

/** One byte every 200 ms of a megabyte: never silent, hopelessly slow. */
function dripFeed(_request: http.IncomingMessage, response: http.ServerResponse): void {
  response.writeHead(200, { 'content-length': String(1024 * 1024) });
  const timer = setInterval(() => response.write('x'), 200);
  response.once('close', () => clearInterval(timer));
}

let slowServer: TestHttpServer;
before(async () => {
  slowServer = await startHttpServer(dripFeed);
});
after(() => slowServer.close());

async function submitSlowDownloads(service: TestService, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index++) {
    const response = await fetch(`${service.url}/v1/scans/url`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${slowServer.origin}/slow-${index}` }),
    });
    assert.equal(response.status, 202);
    ids.push(((await response.json()) as NativeScan).id);
  }
  return ids;
}

async function scanOf(service: TestService, id: string, key: string): Promise<NativeScan> {
  const response = await fetch(`${service.url}/v1/scans/${id}`, { headers: authHeaders(key) });
  assert.equal(response.status, 200);
  return (await response.json()) as NativeScan;
}

const finished = (service: TestService, id: string, key: string, timeoutMs = 60_000) =>
  waitFor(async () => {
    const scan = await scanOf(service, id, key);
    return scan.completed_at ? scan : undefined;
  }, timeoutMs);

async function uploadEicarAsTenantB(service: TestService): Promise<string> {
  const response = await submitNativeUpload(service.url, eicarBytes(), { key: KEY_B, filename: 'eicar.com' });
  assert.equal(response.status, 202);
  return ((await response.json()) as NativeScan).id;
}

describe('a slow tenant with a backlog does not starve another tenant', () => {
  const network = { allowCidrs: ['127.0.0.0/8'], minBytesPerSecond: 1024, minRateWindowMs: 3000 };

  test('fair picking: the other tenant overtakes the backlog at the next free worker', async () => {
    const service = await startTestService({ network, jobs: { workerConcurrency: 2 } });
    try {
      const slow = await submitSlowDownloads(service, 6);
      // Both workers are busy with tenant A's drip-fed downloads before B submits.
      await waitFor(async () => {
        const states = await Promise.all(slow.map((id) => scanOf(service, id, KEY_A)));
        return states.filter((scan) => scan.started_at).length >= 2 ? true : undefined;
      });
      const eicar = await uploadEicarAsTenantB(service);
      const verdict = await finished(service, eicar, KEY_B);
      assert.equal(verdict.status, 'infected');
      // Without B, A's queued jobs would have taken the next free workers in order. B's job was
      // taken at the first free worker: at most one other worker (freed at the same moment) started
      // one of A's backlog first, so at least 3 of A's 6 started after B's.
      const backlog = await Promise.all(slow.map((id) => scanOf(service, id, KEY_A)));
      const bStarted = Date.parse(verdict.started_at!);
      const startedAfterB = backlog.filter(
        (scan) => !scan.started_at || Date.parse(scan.started_at) > bStarted,
      );
      assert.ok(startedAfterB.length >= 3, `only ${startedAfterB.length} of A's jobs started after B's`);

      // Each slow download fails once, for good, on the throughput floor: no retry at the same server.
      for (const id of slow) {
        const scan = await finished(service, id, KEY_A);
        assert.equal(scan.status, 'unscannable');
        assert.equal(scan.reason, 'download_timeout');
        assert.equal(scan.attempts, 1);
        assert.match(scan.detail ?? '', /slower than 1024 bytes\/s/);
      }
    } finally {
      await service.stop();
    }
  });

  test("a per-tenant cap keeps a worker free: B's verdict comes before any of A's jobs ends", async () => {
    const service = await startTestService({
      network,
      jobs: { workerConcurrency: 2, maxRunningPerTenant: 1 },
    });
    try {
      const slow = await submitSlowDownloads(service, 4);
      await waitFor(async () => ((await scanOf(service, slow[0]!, KEY_A)).started_at ? true : undefined));
      const eicar = await uploadEicarAsTenantB(service);
      const verdict = await finished(service, eicar, KEY_B);
      assert.equal(verdict.status, 'infected');
      const states = await Promise.all(slow.map((id) => scanOf(service, id, KEY_A)));
      assert.deepEqual(
        states.map((scan) => scan.completed_at),
        [null, null, null, null],
        'the capped tenant had not finished anything yet',
      );
      assert.equal(states.filter((scan) => scan.started_at).length, 1, 'A never held more than one worker');
    } finally {
      await service.stop();
    }
  });
});

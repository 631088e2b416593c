import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import { metricsText as metricsTextOf, sample } from '../support/metrics.ts';
import {
  authHeaders,
  KEY_A,
  startTestService,
  submitNativeUpload,
  type TestService,
  waitFor,
} from '../support/service.ts';

async function metricsText(service: TestService): Promise<string> {
  return metricsTextOf(service.url);
}

async function waitForSample(
  service: TestService,
  name: string,
  labels: Record<string, string>,
  atLeast: number,
) {
  return waitFor(async () => {
    const value = sample(await metricsText(service), name, labels);
    return value !== undefined && value >= atLeast ? value : undefined;
  });
}

async function submitUpload(service: TestService, bytes: Buffer, extra: Record<string, string> = {}) {
  const response = await submitNativeUpload(service.url, bytes, { filename: 'f.bin', fields: extra });
  assert.equal(response.status, 202);
}

describe('Prometheus metrics', () => {
  let service: TestService;
  let receiver: TestHttpServer;

  before(async () => {
    // /ok takes callbacks, /gone refuses them for good (410).
    receiver = await startHttpServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(request.url === '/gone' ? 410 : 204).end());
    });
    service = await startTestService({ network: { allowCidrs: ['127.0.0.0/8'] } });
  });
  after(async () => {
    await service?.stop();
    await receiver?.close();
  });

  test('/metrics needs no key, has the default metrics, and is documented as needing none', async () => {
    const text = await metricsText(service);
    assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined);
    assert.equal(sample(text, 'scangate_queue_depth'), 0);
    assert.match(text, /# TYPE scangate_scan_duration_seconds histogram/);
    const openapi = (await (await fetch(`${service.url}/openapi.json`)).json()) as {
      paths: Record<string, { get?: { security?: unknown[] } }>;
    };
    assert.deepEqual(openapi.paths['/metrics']?.get?.security, []);
  });

  test('async and sync scans count verdicts, sources, bytes and durations', async () => {
    const before = await metricsText(service);
    const count = (text: string, verdict: string, source: string) =>
      sample(text, 'scangate_scans_total', { verdict, source }) ?? 0;
    const bytesBefore = sample(before, 'scangate_scanned_bytes_total') ?? 0;

    await submitUpload(service, eicarBytes());
    await submitUpload(service, randomBytes(50_000));
    const sync = await fetch(`${service.url}/api/v1/scan/sync/binary`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/octet-stream' },
      body: randomBytes(10_000),
    });
    assert.equal(sync.status, 200);
    const url = await fetch(`${service.url}/v1/scans/url`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${receiver.origin}/file` }),
    });
    assert.equal(url.status, 202);

    await waitForSample(
      service,
      'scangate_scans_total',
      { verdict: 'infected', source: 'upload' },
      count(before, 'infected', 'upload') + 1,
    );
    await waitForSample(
      service,
      'scangate_scans_total',
      { verdict: 'clean', source: 'upload' },
      count(before, 'clean', 'upload') + 2,
    );
    // The receiver answers 204 with no body to the GET: an empty download is unscannable.
    const after = await waitFor(async () => {
      const text = await metricsText(service);
      return count(text, 'unscannable', 'url') + count(text, 'clean', 'url') >
        count(before, 'unscannable', 'url') + count(before, 'clean', 'url')
        ? text
        : undefined;
    });
    assert.ok((sample(after, 'scangate_scanned_bytes_total') ?? 0) >= bytesBefore + 60_068);
    assert.ok((sample(after, 'scangate_scan_duration_seconds_count', { source: 'upload' }) ?? 0) >= 3);
    assert.ok(
      (sample(after, 'scangate_http_requests_total', {
        method: 'POST',
        route: '/v1/scans/file',
        status: '202',
      }) ?? 0) >= 2,
    );
    assert.ok(
      (sample(after, 'scangate_http_requests_total', {
        method: 'POST',
        route: '/api/v1/scan/sync/binary',
        status: '200',
      }) ?? 0) >= 1,
    );
    assert.equal(sample(after, 'scangate_queue_depth'), 0);
  });

  test('callback attempts count delivered and failed-for-good', async () => {
    const text = await metricsText(service);
    const delivered = sample(text, 'scangate_callback_attempts_total', { outcome: 'delivered' }) ?? 0;
    const failed = sample(text, 'scangate_callback_attempts_total', { outcome: 'failed' }) ?? 0;
    await submitUpload(service, randomBytes(100), { callback_url: `${receiver.origin}/ok` });
    await submitUpload(service, randomBytes(100), { callback_url: `${receiver.origin}/gone` });
    await waitForSample(service, 'scangate_callback_attempts_total', { outcome: 'delivered' }, delivered + 1);
    await waitForSample(service, 'scangate_callback_attempts_total', { outcome: 'failed' }, failed + 1);
  });
});

describe('engine failures in metrics', () => {
  let service: TestService;
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'scangate-metrics-'));
    // A clamd address where nothing listens: every scan fails with engine_unavailable.
    service = await startTestService({ engine: { addresses: [path.join(scratch, 'no-clamd.sock')] } });
  });
  after(async () => {
    await service?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  test('engine errors and retries are counted by code', async () => {
    await submitUpload(service, randomBytes(1000));
    await waitForSample(service, 'scangate_engine_errors_total', { code: 'engine_unavailable' }, 1);
    await waitForSample(service, 'scangate_scan_retries_total', { code: 'engine_unavailable' }, 1);
    // Out of attempts, the job fails closed: unscannable, never clean.
    await waitForSample(service, 'scangate_scans_total', { verdict: 'unscannable', source: 'upload' }, 1);
    const text = await metricsText(service);
    assert.equal(sample(text, 'scangate_scans_total', { verdict: 'clean', source: 'upload' }), undefined);
  });
});

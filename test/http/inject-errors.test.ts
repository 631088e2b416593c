import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { NativeScan } from 'scangate/client';
import type { ScanEngine } from '../../src/engine/engine.ts';
import { ScanGateError } from '../../src/errors.ts';
import { ApiKeyAuthenticator } from '../../src/http/api-keys.ts';
import { buildHttpApp } from '../../src/http/app.ts';
import { ScanService } from '../../src/jobs/scan-service.ts';
import { DirectoryBlobStore } from '../../src/sources/blobs/directory-blob-store.ts';
import { lazyS3Client } from '../../src/sources/s3/lazy-client.ts';
import { SourceOpener } from '../../src/sources/source-opener.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { authHeaders, KEY_A, TENANT_A_KEY, testConfig } from '../support/service.ts';

/**
 * Error shapes and schema refusals in-process (fastify's inject: no socket, no clamd). The engine is
 * a stand-in that is always down, which is what these answers must not depend on; scanning itself
 * is covered against the real clamd by the other HTTP suites.
 */
const engineDown: ScanEngine = {
  scan: async () => {
    throw new ScanGateError('engine_unavailable', 'no clamd answers', { retryable: true });
  },
  status: async () => ({ addresses: [{ address: '/nowhere.sock', healthy: false }] }),
  verdictCacheKey: async () => '',
  close: async () => {},
};

/** Every key of the client's NativeScan: the compiler holds this list to the type, both ways. */
const CLIENT_NATIVE_SCAN_KEYS = {
  id: true,
  trace_id: true,
  status: true,
  finding: true,
  reason: true,
  detail: true,
  rule: true,
  evidence: true,
  declared_name: true,
  detected_type: true,
  realfiletype: true,
  content: true,
  policy: true,
  size: true,
  sha256: true,
  engine: true,
  engine_version: true,
  signature_version: true,
  signature_database: true,
  cached: true,
  file_type: true,
  download_time: true,
  scan_time: true,
  attempts: true,
  last_error: true,
  source: true,
  custom_data: true,
  created_at: true,
  started_at: true,
  completed_at: true,
  callback: true,
  bucket_object: true,
} satisfies Record<keyof NativeScan, true>;

describe('error shapes through app.inject() with an engine that is down', () => {
  let dir: string;
  let store: SqliteStore;
  let app: FastifyInstance;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scangate-inject-'));
    const config = testConfig(dir, { auth: { apiKeys: [TENANT_A_KEY] } });
    store = new SqliteStore(path.join(dir, 'scangate.db'));
    await store.init();
    const blobs = new DirectoryBlobStore(path.join(dir, 'uploads'));
    const s3 = lazyS3Client(config.s3);
    const scans = new ScanService({
      store,
      engine: engineDown,
      sources: new SourceOpener({ blobs, s3, config }),
      blobs,
      maxFileSizeBytes: config.limits.maxFileSizeBytes,
      verdictCache: false,
      maxUnfinishedJobsPerTenant: 0,
      inlineUploadMaxBytes: config.jobs.inlineUploadMaxBytes,
    });
    app = await buildHttpApp({
      config,
      logger: pino({ level: 'silent' }),
      scans,
      engine: engineDown,
      authenticator: new ApiKeyAuthenticator(config.auth.apiKeys, store.keys),
      webhookSecret: async () => 'whsec_dGVzdA==',
    });
  });
  after(async () => {
    await app?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const postJson = (url: string, payload: string, key: string | null = KEY_A) =>
    app.inject({
      method: 'POST',
      url,
      headers: { ...(key ? authHeaders(key) : {}), 'content-type': 'application/json' },
      payload,
    });

  const expectError = (response: { statusCode: number; json(): unknown }, status: number, code: string) => {
    assert.equal(response.statusCode, status);
    const body = response.json() as { code: string; message: string };
    assert.equal(body.code, code);
    assert.ok(body.message.length > 0);
  };

  test('no API key → 401 unauthorized; a wrong one too', async () => {
    expectError(await postJson('/v1/scans/url', '{"url":"https://a.example/f"}', null), 401, 'unauthorized');
    expectError(
      await postJson('/v1/scans/url', '{"url":"https://a.example/f"}', 'not-a-key-0123456789'),
      401,
      'unauthorized',
    );
  });

  test('malformed JSON and schema violations → 400 invalid_request', async () => {
    expectError(await postJson('/api/v1/scan/async/download', '{"download_url": '), 400, 'invalid_request');
    expectError(await postJson('/api/v1/scan/async/download', '{"trace_id":"x"}'), 400, 'invalid_request');
    expectError(
      await postJson('/v1/scans/url', '{"url":"https://a.example/f","extra":1}'),
      400,
      'invalid_request',
    );
  });

  test('a download URL with credentials or another scheme → 400 invalid_request naming the field', async () => {
    for (const url of ['https://user:pw@a.example/f', 'ftp://a.example/f', 'not a url']) {
      const response = await postJson('/v1/scans/url', JSON.stringify({ url }));
      expectError(response, 400, 'invalid_request');
      assert.equal((response.json() as { details?: { field?: string } }).details?.field, 'url', url);
    }
  });

  test('a callback to a refused address → 400 blocked_destination at submit', async () => {
    const response = await postJson(
      '/v1/scans/url',
      JSON.stringify({ url: 'https://a.example/f', callback_url: 'http://169.254.169.254/hook' }),
    );
    expectError(response, 400, 'blocked_destination');
  });

  test('an unknown scan → 404 not_found, in both dialects that read by id', async () => {
    const headers = authHeaders(KEY_A);
    expectError(await app.inject({ method: 'GET', url: '/v1/scans/nope', headers }), 404, 'not_found');
    expectError(await app.inject({ method: 'GET', url: '/api/v1/scans/nope', headers }), 404, 'not_found');
  });

  test('a sync scan while the engine is down → 503 engine_unavailable, never a verdict', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/scan/sync/binary',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/octet-stream' },
      payload: Buffer.from('some bytes'),
    });
    expectError(response, 503, 'engine_unavailable');
  });

  test("the client's NativeScan type has exactly the fields /openapi.json documents", async () => {
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const ok = document.paths['/v1/scans/{id}']?.get?.responses['200'] as {
      content: { 'application/json': { schema: { properties: Record<string, unknown> } } };
    };
    const documented = Object.keys(ok.content['application/json'].schema.properties).sort();
    assert.deepEqual(documented, Object.keys(CLIENT_NATIVE_SCAN_KEYS).sort());
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startTestService, type TestService } from '../support/service.ts';

const root = path.resolve(import.meta.dirname, '../..');

interface Operation {
  operationId?: string;
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, { format?: string }> } }> };
  responses: Record<string, { $ref?: string; headers?: Record<string, unknown> }>;
}
interface Document {
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
}

describe('the OpenAPI document of a live service', () => {
  let service: TestService;
  let document: Document;
  let dir: string;

  before(async () => {
    service = await startTestService({ http: { publicUrl: 'https://scan.example.com' } });
    document = (await (await fetch(`${service.url}/openapi.json`)).json()) as Document;
    dir = await mkdtemp(path.join(tmpdir(), 'scangate-openapi-'));
  });

  after(async () => {
    await service.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const operations = () =>
    Object.entries(document.paths).flatMap(([route, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ route, method, operation })),
    );

  test('redocly lint (recommended rules) finds zero errors', async () => {
    const file = path.join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(document));
    // Asynchronous: the service that served the document runs in this process.
    const { stdout, stderr } = await promisify(execFile)(
      path.join(root, 'node_modules/.bin/node'),
      [path.join(root, 'node_modules/.bin/redocly'), 'lint', file, '--format=stylish'],
      { cwd: dir },
    );
    assert.doesNotMatch(`${stdout}${stderr}`, /\berror\b/);
    assert.match(`${stdout}${stderr}`, /Your API description is valid/);
  });

  test('servers name PUBLIC_URL; every operation has a unique operationId', () => {
    assert.deepEqual(
      document.servers.map((server) => server.url),
      ['https://scan.example.com'],
    );
    const ids = operations().map(({ operation }) => operation.operationId);
    assert.ok(
      ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z0-9]+$/.test(id)),
      ids.join(','),
    );
    assert.equal(new Set(ids).size, ids.length);
  });

  test('every upload endpoint has a file request body', () => {
    for (const route of [
      '/api/v1/scan/sync/form',
      '/v1/scan/sync/form',
      '/api/v1/scans/initiate',
      '/v1/scans/file',
    ]) {
      const body = document.paths[route]?.post?.requestBody;
      assert.equal(body?.content['multipart/form-data']?.schema.properties?.file?.format, 'binary', route);
    }
    for (const route of ['/api/v1/scan/sync/binary', '/v1/scan/sync/binary']) {
      assert.ok(document.paths[route]?.post?.requestBody?.content['application/octet-stream'], route);
    }
  });

  test('async submits answer 201 with Location or 204; errors are $refs; operations endpoints are listed', () => {
    for (const route of ['/api/v1/scan/async/download', '/api/v1/scan/async/s3', '/v1/scan/async/download']) {
      const responses = document.paths[route]!.post!.responses;
      assert.ok(responses['201']?.headers?.Location, route);
      assert.ok(responses['204'], route);
      for (const status of ['400', '401', '409', '413', '415', '429', '503'])
        assert.equal(responses[status]?.$ref, `#/components/responses/Error${status}`, `${route} ${status}`);
    }
    for (const route of ['/healthz', '/readyz', '/metrics']) assert.ok(document.paths[route]?.get, route);
  });
});

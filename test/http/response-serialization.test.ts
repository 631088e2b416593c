import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { nativeJobBody } from '../../src/dialects/native.ts';
import { buildSerializersWithTypeLists, nullableAsTypeLists } from '../../src/http/response-serialization.ts';
import { ErrorResponse, NativeScan } from '../../src/http/schemas.ts';
import { STRICT_POLICY } from '../../src/policy/policy.ts';
import type { ScanJob } from '../../src/scan.ts';

type Serialize = (value: unknown) => string;
const route = (schema: unknown) => ({ schema, method: 'GET', url: '/v1/scans/:id', httpStatus: '200' });

const pending: ScanJob = {
  id: 'job-1',
  tenantId: 'tenant-a',
  dialect: 'native',
  source: { kind: 'upload', blobKey: 'job-1', size: 1024, sha256: 'ab'.repeat(32), inline: true },
  state: 'queued',
  attempts: 0,
  createdAt: new Date('2026-01-02T03:04:05.678Z'),
  nextAttemptAt: new Date('2026-01-02T03:04:05.678Z'),
};

const blocked: ScanJob = {
  ...pending,
  id: 'job-2',
  traceId: 'trace "quoted" \u2028',
  customData: '{"a":1}',
  source: { kind: 's3', bucket: 'b', key: 'k/ü.zip' },
  policy: STRICT_POLICY,
  state: 'done',
  attempts: 2,
  lastError: 'clamd at /run/clamd.sock closed the connection',
  startedAt: new Date('2026-01-02T03:04:06.000Z'),
  completedAt: new Date('2026-01-02T03:04:07.250Z'),
  result: {
    status: 'blocked',
    rule: 'executables',
    evidence: 'PE32 executable in a.zip',
    declaredName: 'report.pdf',
    size: 4096,
    sha256: 'cd'.repeat(32),
    engine: 'clamav',
    engineVersion: '1.4.3',
    signatureVersion: '27500',
    signatureDatabase: 'scangate-test',
    cached: true,
    fileType: { ext: 'zip', mime: 'application/zip' },
    downloadTimeMs: 12.5,
    scanTimeMs: 0.25,
    content: {
      version: 3,
      detectedType: 'zip',
      typeLabel: 'ZIP archive',
      findings: [
        { rule: 'executables', detail: 'PE32', member: 'a/b.exe' },
        { rule: 'macros', detail: 'VBA' },
      ],
    },
  } as ScanJob['result'],
};

test('a nullable field is written as a type list; unions of values and unknown branches stay as they are', () => {
  assert.deepEqual(
    nullableAsTypeLists({ anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }] }),
    {
      type: ['string', 'null'],
      format: 'date-time',
    },
  );
  const literals = {
    anyOf: [
      { const: 'a', type: 'string' },
      { const: 'b', type: 'string' },
    ],
  };
  assert.deepEqual(nullableAsTypeLists(literals), literals);
  const unknownOrNull = { anyOf: [{}, { type: 'null' }] };
  assert.deepEqual(nullableAsTypeLists(unknownOrNull), unknownOrNull);
  assert.deepEqual(
    nullableAsTypeLists({
      type: 'object',
      properties: {
        list: {
          anyOf: [
            { type: 'array', items: { anyOf: [{ type: 'integer' }, { type: 'null' }] } },
            { type: 'null' },
          ],
        },
      },
      default: { anyOf: [] },
    }),
    {
      type: 'object',
      properties: { list: { type: ['array', 'null'], items: { type: ['integer', 'null'] } } },
      default: { anyOf: [] },
    },
  );
});

test('the native job view is serialized byte for byte as fastify serializes the schema as written', () => {
  const external = { [(ErrorResponse as { $id?: string }).$id ?? 'ErrorResponse']: ErrorResponse };
  const asWritten = SerializerSelector()(external, {})(route(NativeScan)) as Serialize;
  const withTypeLists = buildSerializersWithTypeLists()(external, {})(route(NativeScan)) as Serialize;
  for (const job of [pending, blocked]) {
    const body = nativeJobBody(job);
    assert.equal(withTypeLists(body), asWritten(body));
    assert.deepEqual(JSON.parse(withTypeLists(body)), JSON.parse(JSON.stringify(body)));
  }
  const withCallback = {
    ...nativeJobBody(blocked),
    callback: { url: 'https://example.test/cb', deliveries: [] },
  };
  assert.equal(withTypeLists(withCallback), asWritten(withCallback));
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { runSql, TEST_DATABASE_URL } from '../support/postgres.ts';
import {
  authHeaders,
  KEY_A,
  type ServiceProcess,
  spawnService,
  TENANT_A_KEY,
  waitFor,
} from '../support/service.ts';

/**
 * The keys of every JSON object in `text`, in order, per object: JSON.parse keeps the last of two
 * equal keys silently, so duplicates are found on the text itself.
 */
function duplicateKeys(text: string): string[] {
  const duplicates: string[] = [];
  const stack: Set<string>[] = [];
  let expectKey = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (char === '"') {
      let end = index + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(index, end + 1)) as string;
        const keys = stack.at(-1)!;
        if (keys.has(key)) duplicates.push(key);
        keys.add(key);
        expectKey = false;
      }
      index = end;
    } else if (char === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (char === '}') stack.pop();
    else if (char === ',' && stack.length > 0) expectKey = isObjectContext(text, index);
    else if (char === '[') stack.push(new Set(['\u0000array']));
    else if (char === ']') stack.pop();
  }
  return duplicates;
}

/** A comma directly inside an object (not an array) is followed by a key. */
function isObjectContext(text: string, commaIndex: number): boolean {
  let depth = 0;
  for (let index = commaIndex - 1; index >= 0; index--) {
    const char = text[index]!;
    if (char === '"') {
      index--;
      while (text[index] !== '"' || text[index - 1] === '\\') index--;
    } else if (char === '}' || char === ']') depth++;
    else if (char === '{' || char === '[') {
      if (depth === 0) return char === '{';
      depth--;
    }
  }
  return false;
}

describe('logs, request ids and metrics of a running service', () => {
  let dataDir: string;
  let service: ServiceProcess;
  const raw: string[] = [];

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'scangate-ops-'));
    service = await spawnService(
      { SCANGATE_DATA_DIR: dataDir, API_KEYS: TENANT_A_KEY, LOG_LEVEL: 'debug' },
      undefined,
      (line) => raw.push(line),
    );
  });

  after(async () => {
    service.child.kill('SIGTERM');
    await service.exited;
    await rm(dataDir, { recursive: true, force: true });
  });

  test('the duplicate-key finder finds duplicates and only those', () => {
    assert.deepEqual(duplicateKeys('{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}],"msg":"x","msg":"y"}'), ['msg']);
    assert.deepEqual(duplicateKeys('{"a":"\\"a\\":1,","b":[1,2,{"c":3}]}'), []);
  });

  test('an X-Request-Id is kept, echoed, and the submit line ties it to the job id', async () => {
    const form = new FormData();
    form.set('file', new Blob([eicarBytes()]), 'eicar.com');
    const response = await fetch(`${service.url}/api/v1/scans/initiate`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A, 'x-api-key'), 'x-request-id': 'trace-abc-123' },
      body: form,
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-request-id'), 'trace-abc-123');
    const { scanId } = (await response.json()) as { scanId: string };
    const submitted = await waitFor(async () =>
      raw
        .map((line) => JSON.parse(line))
        .find((line) => line.msg === 'scan submitted' && line.jobId === scanId),
    );
    assert.equal(submitted.requestId, 'trace-abc-123');

    const unsafe = await fetch(`${service.url}/healthz`, {
      headers: { 'x-request-id': 'bad id\twith spaces' },
    });
    assert.match(unsafe.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  test('client errors are not engine errors; one callback-failure metric; standard process names; build info', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('one')]), 'a.txt');
    form.append('other', new Blob([Buffer.from('two')]), 'b.txt');
    const twoFiles = await fetch(`${service.url}/api/v1/scan/sync/form`, {
      method: 'POST',
      headers: authHeaders(KEY_A),
      body: form,
    });
    assert.ok(twoFiles.status >= 400 && twoFiles.status < 500, `two files: ${twoFiles.status}`);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /^scangate_engine_errors_total\{/m);
    assert.doesNotMatch(metrics, /scangate_callback_failures_total/);
    assert.match(metrics, /^# TYPE scangate_callback_attempts_total counter/m);
    assert.match(metrics, /^process_cpu_user_seconds_total \d/m);
    assert.match(metrics, /^nodejs_heap_size_used_bytes \d/m);
    assert.doesNotMatch(metrics, /scangate_process_cpu/);
    assert.match(
      metrics,
      /^scangate_build_info\{version="\d+\.\d+\.\d+",node_version="24\.[\d.]+",role="all"\} 1$/m,
    );
    assert.match(metrics, /^scangate_clamd_up\{address="[^"]+"\} 1$/m);
    assert.match(metrics, /^scangate_jobs_in_flight \d+$/m);
  });

  test('every log line so far is one JSON object without a duplicate key', () => {
    assert.ok(raw.length > 5);
    for (const line of raw) {
      assert.doesNotThrow(() => JSON.parse(line), line);
      assert.deepEqual(duplicateKeys(line), [], line);
    }
  });
});

describe('a worker-only process', () => {
  const database = `scangate_ops_${randomBytes(4).toString('hex')}`;
  let dataDir: string;
  let worker: ServiceProcess;

  before(async () => {
    await runSql(`CREATE DATABASE ${database}`);
    dataDir = await mkdtemp(path.join(tmpdir(), 'scangate-ops-worker-'));
    worker = await spawnService({
      SCANGATE_ROLE: 'worker',
      SCANGATE_DATA_DIR: dataDir,
      DATABASE_URL: TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${database}`),
    });
  });

  after(async () => {
    worker.child.kill('SIGTERM');
    await worker.exited;
    await rm(dataDir, { recursive: true, force: true });
    await runSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  test('serves /healthz, /readyz and /metrics on its port, and no API', async () => {
    assert.match(worker.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${worker.url}/healthz`)).status, 200);
    const ready = await waitFor(async () => {
      const response = await fetch(`${worker.url}/readyz`);
      return response.status === 200 ? ((await response.json()) as { store: string }) : undefined;
    });
    assert.equal(ready.store, 'postgres');
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    assert.match(metrics, /^scangate_build_info\{[^}]*role="worker"\} 1$/m);
    assert.match(metrics, /^scangate_jobs_in_flight 0$/m);
    const api = await fetch(`${worker.url}/api/v1/test`, { headers: authHeaders(KEY_A) });
    assert.equal(api.status, 404);
  });
});

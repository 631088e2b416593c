import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startService } from '../../src/cli/service.ts';
import { ConfigError } from '../../src/config.ts';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { writeOfflineSignatures } from '../../src/engine/signatures.ts';
import {
  authHeaders,
  KEY_A,
  startTestService,
  submitNativeUpload,
  type TestService,
  testConfig,
  waitFor,
} from '../support/service.ts';

describe('test signatures only when asked for', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService();
  });
  after(async () => {
    await service?.stop();
  });

  test('/readyz, /metrics and every native verdict say the test database is in use', async () => {
    const ready = await fetch(`${service.url}/readyz`);
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as {
      signatures: { test: boolean; source: string; database: string; version: string; age_seconds: number };
      engine: { signature_age_seconds: number };
    };
    assert.equal(body.signatures.test, true);
    assert.equal(body.signatures.source, 'test');
    assert.equal(body.signatures.database, 'scangate-test');
    assert.match(body.signatures.version, /^\d+$/);
    // Seconds, from the build date clamd reports for the database (written moments ago).
    assert.ok(body.engine.signature_age_seconds >= 0 && body.engine.signature_age_seconds < 86_400);

    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    assert.match(metrics, /^scangate_signatures_test 1$/m);
    assert.match(metrics, /^scangate_signature_database_loaded 1$/m);
    assert.match(metrics, new RegExp(`^scangate_signature_version ${body.signatures.version}$`, 'm'));

    const submitted = (await (await submitNativeUpload(service.url, eicarBytes())).json()) as { id: string };
    const result = await waitFor(async () => {
      const scan = (await (
        await fetch(`${service.url}/v1/scans/${submitted.id}`, { headers: authHeaders(KEY_A) })
      ).json()) as { status: string; signature_database: string | null; signature_version: string | null };
      return scan.status === 'pending' ? undefined : scan;
    });
    assert.equal(result.status, 'infected');
    assert.equal(result.signature_database, 'scangate-test');
    assert.equal(result.signature_version, body.signatures.version);
  });

  test('serve refuses to start on the test database without SIGNATURES=test', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'scangate-refuse-'));
    try {
      const testDatabase = path.join(dataDir, 'db');
      await writeOfflineSignatures(testDatabase);
      for (const mode of ['auto', 'system', 'freshclam'] as const) {
        const config = testConfig(dataDir, {
          signatures: { mode },
          engine: { signatureDirs: [testDatabase] },
        });
        await assert.rejects(
          startService(config),
          (error: unknown) =>
            error instanceof ConfigError && /offline test database.*SIGNATURES=test/s.test(error.message),
        );
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { hashApiKey } from '../../src/http/api-keys.ts';
import { openStore } from '../../src/store/open-store.ts';
import { runSql, TEST_DATABASE_URL } from '../support/postgres.ts';
import {
  authHeaders,
  startTestService,
  submitNativeUpload,
  type TestService,
  testConfig,
  waitFor,
} from '../support/service.ts';
import { runCli } from './run-cli.ts';

interface CreatedKey {
  id: string;
  tenant: string;
  prefix: string;
  key: string;
}

describe('scangate keys on the SQLite store of a running service', () => {
  let service: TestService;
  let env: Record<string, string>;

  before(async () => {
    service = await startTestService();
    // The CLI reads the same configuration as the service: here, its data directory.
    env = { SCANGATE_DATA_DIR: service.dataDir, SIGNATURES: 'test' };
  });
  after(() => service?.stop());

  const scans = (key: string) => fetch(`${service.url}/v1/scans?limit=1`, { headers: authHeaders(key) });

  test('create → the key works → revoke → 401', async () => {
    const created = await runCli(['keys', 'create', '--tenant', 'acme', '--json'], env);
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout) as CreatedKey;
    assert.match(key.key, /^sg_[A-Za-z0-9_-]{43}$/);
    assert.equal(key.tenant, 'acme');
    assert.ok(key.key.startsWith(key.prefix));
    assert.equal((await scans(key.key)).status, 200);

    const scan = await runCli(['scan', 'http://127.0.0.1:9/x'], {
      SCANGATE_URL: service.url,
      SCANGATE_API_KEY: key.key,
    });
    assert.equal(scan.code, 2, scan.stderr);

    const listed = await runCli(['keys', 'list'], env);
    assert.equal(listed.code, 0, listed.stderr);
    const line = listed.stdout.split('\n').find((row) => row.startsWith(key.id));
    assert.match(line ?? '', /^key_[0-9a-f]{12}\s+acme\s+sg_\S{7}…\s+\d{4}-/);
    assert.ok(line?.includes(`${key.prefix}…`));
    assert.ok(!listed.stdout.includes(key.key), 'the key itself is never listed');

    const revoked = await runCli(['keys', 'revoke', key.id], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    const refused = await scans(key.key);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { code: string }).code, 'unauthorized');
    const after = JSON.parse((await runCli(['keys', 'list', '--json'], env)).stdout) as {
      id: string;
      revoked_at: string;
    }[];
    assert.ok(after.find((entry) => entry.id === key.id)?.revoked_at);
  });

  test('plain create prints only the key on stdout; bad input is refused', async () => {
    const created = await runCli(['keys', 'create', '--tenant', 'beta'], env);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^sg_\S+\n$/);
    assert.match(created.stderr, /shown again|not shown again/);
    assert.equal((await scans(created.stdout.trim())).status, 200);

    assert.notEqual((await runCli(['keys', 'create', '--tenant', '../x'], env)).code, 0);
    assert.notEqual((await runCli(['keys', 'create'], env)).code, 0);
    const unknown = await runCli(['keys', 'revoke', 'key_doesnotexist'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no key with id key_doesnotexist/);
  });

  test('keys policy sets the tenant content policy the running service applies to new jobs', async () => {
    const created = JSON.parse(
      (await runCli(['keys', 'create', '--tenant', 'gamma', '--json'], env)).stdout,
    ) as CreatedKey;
    const set = await runCli(
      ['keys', 'policy', 'gamma', '--preset', 'strict', '--allowed-types', 'pdf', '--json'],
      env,
    );
    assert.equal(set.code, 0, set.stderr);
    const shown = JSON.parse(set.stdout) as { block: string[]; allowed_types: string[] };
    assert.ok(shown.block.includes('executables'));
    assert.deepEqual(shown.allowed_types, ['pdf']);
    const text = await runCli(['keys', 'policy', 'gamma'], env);
    assert.match(text.stdout, /allowed types:\s+pdf/);

    const upload = await submitNativeUpload(service.url, Buffer.from('plain words\n'), {
      key: created.key,
      filename: 'notes.txt',
    });
    const { id } = (await upload.json()) as { id: string };
    const result = await waitFor(async () => {
      const response = await fetch(`${service.url}/v1/scans/${id}`, { headers: authHeaders(created.key) });
      const body = (await response.json()) as { status: string; rule: string | null };
      return body.status === 'pending' ? undefined : body;
    });
    assert.deepEqual({ status: result.status, rule: result.rule }, { status: 'blocked', rule: 'file_type' });

    assert.notEqual((await runCli(['keys', 'policy', 'gamma', '--block', 'exe'], env)).code, 0);
    const reset = await runCli(['keys', 'policy', 'gamma', '--preset', 'default'], env);
    assert.match(reset.stdout, /default policy/);
  });
});

describe('scangate keys on PostgreSQL', () => {
  const database = `scangate_cli_${randomBytes(5).toString('hex')}`;
  const databaseUrl = TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${database}`);

  // A database of its own: openStore uses the public schema, which other tests must not share.
  before(() => runSql(`CREATE DATABASE ${database}`));
  after(() => runSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));

  test('create, find by hash, revoke', async () => {
    const env = { DATABASE_URL: databaseUrl, SCANGATE_DATA_DIR: '/nonexistent' };
    const created = await runCli(['keys', 'create', '--tenant', 'pg-tenant', '--json'], env);
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout) as CreatedKey;

    const store = await openStore(testConfig('/nonexistent', { store: { databaseUrl } }));
    try {
      const found = await store.keys.findByHash(hashApiKey(key.key));
      assert.equal(found?.tenantId, 'pg-tenant');
      assert.equal(found?.revokedAt, undefined);
      assert.equal((await runCli(['keys', 'revoke', key.id], env)).code, 0);
      assert.ok((await store.keys.findByHash(hashApiKey(key.key)))?.revokedAt);
    } finally {
      await store.close();
    }
  });
});

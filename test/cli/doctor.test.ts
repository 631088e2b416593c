import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDatabaseHeader, signatureAgeCheck } from '../../src/cli/commands/doctor-checks.ts';
import { startTestClamd } from '../support/clamd.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { runCli } from './run-cli.ts';

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

const checksOf = (stdout: string) => (JSON.parse(stdout) as { checks: Check[] }).checks;

describe('scangate doctor', () => {
  let service: TestService;
  let scratch: string;

  before(async () => {
    service = await startTestService();
    scratch = await mkdtemp(path.join(tmpdir(), 'scangate-doctor-'));
  });
  after(async () => {
    await service?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test('a working configuration passes, with a warning for the test signatures it asked for', async () => {
    const result = await runCli(['doctor'], {
      SCANGATE_DATA_DIR: service.dataDir,
      API_KEYS: 'team=key-0123456789',
      SIGNATURES: 'test',
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^ok +clamd +managed: \/usr\/sbin\/clamd is executable$/m);
    assert.match(result.stdout, /^ok +database +SQLite in .* reachable$/m);
    assert.match(result.stdout, /^ok +blob store +.*uploads writable$/m);
    assert.match(result.stdout, /^ok +api keys +1 configured, 0 stored$/m);
    // The offline database is only for trying scangate out: doctor says so, and how to fix it.
    assert.match(result.stdout, /^WARN +signatures +offline test database \(SIGNATURES=test/m);
    assert.match(result.stdout, /fix: for real use unset SIGNATURES/);
    // The service just wrote it, so it is fresh.
    assert.match(result.stdout, /^ok +signature age +\d+\.\d hours/m);
  });

  test('the test signatures without SIGNATURES=test fail, exit 1', async () => {
    const result = await runCli(['doctor', '--json'], {
      SCANGATE_DATA_DIR: service.dataDir,
      API_KEYS: 'team=key-0123456789',
      SIGNATURE_DIRS: path.join(service.dataDir, 'signatures'),
    });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const signatures = checksOf(result.stdout).find((check) => check.name === 'signatures');
    assert.equal(signatures?.status, 'fail');
    assert.match(signatures?.detail ?? '', /offline test database/);
    assert.match(signatures?.fix ?? '', /SIGNATURES=test/);
  });

  test('every failing part is named with its fix, and the exit code is 1', async () => {
    const readOnly = path.join(scratch, 'read-only');
    await mkdir(readOnly);
    await chmod(readOnly, 0o500);
    const result = await runCli(['doctor', '--json'], {
      SCANGATE_DATA_DIR: readOnly,
      CLAMD_ADDRESS: '127.0.0.1:9',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:9/none',
    });
    assert.equal(result.code, 1, result.stderr);
    const checks = checksOf(result.stdout);
    const byName = new Map(checks.map((check) => [check.name, check]));
    assert.equal(byName.get('clamd 127.0.0.1:9')?.status, 'fail');
    assert.match(byName.get('clamd 127.0.0.1:9')?.fix ?? '', /CLAMD_ADDRESS/);
    assert.equal(byName.get('database')?.status, 'fail');
    assert.match(byName.get('database')?.fix ?? '', /DATABASE_URL/);
    // root ignores directory permissions: the blob check can only fail for other users.
    if (process.getuid?.() !== 0) assert.equal(byName.get('blob store')?.status, 'fail');
  });

  test('a missing clamd binary and an invalid configuration fail', async () => {
    const missing = await runCli(['doctor'], {
      SCANGATE_DATA_DIR: service.dataDir,
      CLAMD_BINARY: path.join(scratch, 'no-clamd'),
    });
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /^FAIL +clamd +managed clamd binary unusable/m);
    assert.match(missing.stdout, /fix: apt-get install clamav-daemon/);

    const invalid = await runCli(['doctor'], { PORT: 'eighty' });
    assert.equal(invalid.code, 1);
    assert.match(invalid.stdout, /^FAIL +configuration +PORT="eighty" is not an integer/m);
  });

  test("with a clamd of one's own, doctor runs the container-format self-test against it", async () => {
    const clamd = await startTestClamd();
    try {
      const result = await runCli(['doctor', '--json'], {
        SCANGATE_DATA_DIR: service.dataDir,
        CLAMD_ADDRESS: clamd.socketPath,
      });
      const formats = checksOf(result.stdout).find((check) => check.name === 'container formats');
      // Every format this machine can write is either read or reported unscannable: none is blind.
      assert.equal(formats?.status, 'ok', result.stdout);
      assert.match(formats?.detail ?? '', /reported unscannable: .*Zip64.*RAR/);
      assert.doesNotMatch(formats?.detail ?? '', /answered clean unread/);
    } finally {
      await clamd.stop();
    }
  });

  test('signature age thresholds and CVD headers', () => {
    const now = new Date('2026-06-01T12:00:00Z');
    const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3600_000);
    assert.equal(signatureAgeCheck(hoursAgo(5), now).status, 'ok');
    assert.equal(signatureAgeCheck(hoursAgo(72), now).status, 'warn');
    assert.equal(signatureAgeCheck(hoursAgo(24 * 8), now).status, 'fail');
    assert.equal(signatureAgeCheck(undefined, now).status, 'warn');
    // MAX_SIGNATURE_AGE decides when old is too old.
    assert.equal(signatureAgeCheck(hoursAgo(30), now, 24 * 3600).status, 'fail');
    const header = 'ClamAV-VDB:23 Nov 2026 09-53 +0000:927229:2:216:de03:X:scangate:1795427587'.padEnd(
      512,
      ' ',
    );
    assert.deepEqual(parseDatabaseHeader(header), {
      version: '927229',
      builtAt: new Date(1795427587 * 1000),
    });
    assert.equal(parseDatabaseHeader('not a database'), undefined);
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig, parseDuration } from '../../src/config.ts';
import { signatureHealth } from '../../src/engine/signature-health.ts';
import type { SignatureStatus } from '../../src/engine/signature-lifecycle.ts';

const now = Date.parse('2026-06-10T12:00:00Z');
const daysAgo = (days: number) => new Date(now - days * 86_400_000);
const week = 7 * 86_400;
const loaded: SignatureStatus = {
  source: 'freshclam',
  test: false,
  databaseName: 'clamav',
  databaseLoaded: true,
};

describe('signature readiness', () => {
  test('a current database is ready; its age comes from the date clamd reports', () => {
    assert.deepEqual(signatureHealth(loaded, { signatureDate: daysAgo(1) }, week, now), {
      problems: [],
      ageSeconds: 86_400,
    });
  });

  test('older than MAX_SIGNATURE_AGE is not ready, and says why', () => {
    const health = signatureHealth(loaded, { signatureDate: daysAgo(8) }, week, now);
    assert.equal(health.ageSeconds, 8 * 86_400);
    assert.match(health.problems[0] ?? '', /8\.0 days old .*MAX_SIGNATURE_AGE is 7\.0 days/);
  });

  test('a failed update keeps readiness while the last good database is young enough', () => {
    const failed: SignatureStatus = {
      ...loaded,
      lastUpdate: { at: new Date(now), outcome: 'failed', detail: 'mirror down' },
    };
    assert.deepEqual(signatureHealth(failed, { signatureDate: daysAgo(2) }, week, now).problems, []);
    assert.match(
      signatureHealth(failed, { signatureDate: daysAgo(9) }, week, now).problems[0] ?? '',
      /last update failed: mirror down/,
    );
  });

  test('no database loaded is not ready', () => {
    const waiting: SignatureStatus = { ...loaded, databaseLoaded: false, waitingFor: 'a database in /db' };
    const health = signatureHealth(waiting, undefined, week, now);
    assert.equal(health.ageSeconds, null);
    assert.match(health.problems[0] ?? '', /no signature database loaded: waiting for a database in \/db/);
  });
});

describe('signature configuration', () => {
  test('MAX_SIGNATURE_AGE and FRESHCLAM_INTERVAL take seconds or units', () => {
    assert.equal(parseDuration('3600'), 3600);
    assert.equal(parseDuration('36h'), 129_600);
    assert.equal(parseDuration('7d'), week);
    assert.throws(() => parseDuration('a week'), ConfigError);
    const config = loadConfig({
      MAX_SIGNATURE_AGE: '2d',
      FRESHCLAM_INTERVAL: '30m',
      SIGNATURES: 'freshclam',
    });
    assert.equal(config.signatures.maxAgeSeconds, 2 * 86_400);
    assert.equal(config.signatures.updateIntervalSeconds, 1800);
    assert.equal(loadConfig({}).signatures.maxAgeSeconds, week);
    assert.throws(() => loadConfig({ SIGNATURES: 'official' }), ConfigError);
  });

  test('secrets can come from *_FILE variables (container secrets)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'scangate-secrets-'));
    try {
      const keys = path.join(dir, 'api-keys');
      await writeFile(keys, 'team=from-a-file-0123\n');
      assert.deepEqual(loadConfig({ API_KEYS_FILE: keys }).auth.apiKeys, ['team=from-a-file-0123']);
      assert.throws(
        () => loadConfig({ API_KEYS_FILE: keys, API_KEYS: 'team=other-0123456' }),
        /set API_KEYS or API_KEYS_FILE, not both/,
      );
      assert.throws(
        () => loadConfig({ API_KEYS_FILE: path.join(dir, 'missing') }),
        /API_KEYS_FILE: cannot read/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

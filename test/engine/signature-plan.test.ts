import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, defaultConfig } from '../../src/config.ts';
import { planSignatures, type SignatureFacts } from '../../src/engine/signature-plan.ts';
import { SYSTEM_SIGNATURE_DIR } from '../../src/engine/signatures.ts';

const data = '/srv/scangate';
const facts = (overrides: Partial<SignatureFacts> = {}): SignatureFacts => ({
  systemHasDatabase: false,
  freshclamInstalled: true,
  holdsTestDatabase: () => false,
  ...overrides,
});
const configWith = (
  mode: 'auto' | 'freshclam' | 'system' | 'test',
  engine: { signatureDirs?: string[]; addresses?: string[] } = {},
) => {
  const config = defaultConfig(data);
  config.signatures.mode = mode;
  Object.assign(config.engine, engine);
  return config;
};

describe('signature plan', () => {
  test('auto: the system database when freshclam has filled it, else scangate runs freshclam', () => {
    assert.deepEqual(planSignatures(configWith('auto'), facts({ systemHasDatabase: true })), {
      source: 'system',
      directory: SYSTEM_SIGNATURE_DIR,
      databaseName: 'clamav',
    });
    assert.deepEqual(planSignatures(configWith('auto'), facts()), {
      source: 'freshclam',
      directory: path.join(data, 'clamav'),
      databaseName: 'clamav',
    });
    // Without freshclam there is nothing to fill a directory but someone else: wait for the system one.
    assert.equal(planSignatures(configWith('auto'), facts({ freshclamInstalled: false })).source, 'system');
  });

  test('auto never picks the offline test database; test is only ever asked for', () => {
    for (const mode of ['auto', 'freshclam', 'system'] as const) {
      assert.notEqual(planSignatures(configWith(mode), facts()).source, 'test');
    }
    assert.deepEqual(planSignatures(configWith('test'), facts()), {
      source: 'test',
      directory: path.join(data, 'signatures'),
      databaseName: 'scangate-test',
    });
  });

  test('a directory holding the test database is refused unless SIGNATURES=test', () => {
    const testDir = '/srv/test-db';
    const holds = facts({ holdsTestDatabase: (dir) => dir === testDir });
    for (const mode of ['auto', 'system', 'freshclam'] as const) {
      assert.throws(
        () => planSignatures(configWith(mode, { signatureDirs: [testDir] }), holds),
        (error: unknown) => error instanceof ConfigError && /SIGNATURES=test/.test(error.message),
      );
    }
  });

  test('SIGNATURE_DIRS names the directory; an external clamd has no directory', () => {
    assert.deepEqual(
      planSignatures(configWith('freshclam', { signatureDirs: ['/db'] }), facts()).directory,
      '/db',
    );
    assert.deepEqual(planSignatures(configWith('auto', { signatureDirs: ['/db'] }), facts()), {
      source: 'system',
      directory: '/db',
      databaseName: 'clamav',
    });
    assert.deepEqual(planSignatures(configWith('test', { addresses: ['127.0.0.1:3310'] }), facts()), {
      source: 'external',
      databaseName: 'scangate-test',
    });
  });
});

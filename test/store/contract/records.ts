import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiKeyRecord } from '../../../src/scan.ts';
import { CLEAN, type ContractContext, INFECTED, rejectsWithCode } from './fixtures.ts';

function apiKey(overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id: crypto.randomUUID(),
    tenantId: 'tenant-a',
    keyHash: crypto.randomUUID().replaceAll('-', '').repeat(2),
    prefix: 'sg_live_ab12',
    createdAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
    ...overrides,
  };
}

export function recordsContract(context: ContractContext): void {
  test('ping answers while the store is open', async () => {
    await context.store().ping();
  });

  test('verdict cache: keyed by sha256 and signature version, last write wins', async () => {
    const store = context.store();
    const sha = 'd'.repeat(64);
    assert.equal(await store.verdicts.get(sha, 'v1'), undefined);
    await store.verdicts.put({ sha256: sha, cacheKey: 'v1', result: CLEAN });
    assert.deepEqual(await store.verdicts.get(sha, 'v1'), CLEAN);
    assert.equal(await store.verdicts.get(sha, 'v2'), undefined, 'new signatures, no cached verdict');
    await store.verdicts.put({ sha256: sha, cacheKey: 'v1', result: INFECTED });
    assert.deepEqual(await store.verdicts.get(sha, 'v1'), INFECTED);
  });

  test('API keys: found by hash, listed, revoked once; a hash is unique', async () => {
    const store = context.store();
    const first = apiKey();
    const second = apiKey({ tenantId: 'tenant-b', createdAt: new Date(first.createdAt.getTime() + 1000) });
    await store.keys.create(first);
    await store.keys.create(second);
    assert.deepEqual(await store.keys.findByHash(first.keyHash), first);
    assert.equal(await store.keys.findByHash('0'.repeat(64)), undefined);
    assert.deepEqual(await store.keys.list(), [first, second]);
    await rejectsWithCode(store.keys.create(apiKey({ keyHash: first.keyHash })), 'invalid_request');

    const before = Date.now();
    assert.equal(await store.keys.revoke(first.id), true);
    const revokedAt = (await store.keys.findByHash(first.keyHash))?.revokedAt;
    assert.ok(revokedAt && Math.abs(revokedAt.getTime() - before) < 2_000);
    assert.equal(await store.keys.revoke(first.id), true, 'revoking again is harmless');
    assert.deepEqual(
      (await store.keys.findByHash(first.keyHash))?.revokedAt,
      revokedAt,
      'first revocation kept',
    );
    assert.equal(await store.keys.revoke(crypto.randomUUID()), false);
    assert.equal((await store.keys.findByHash(second.keyHash))?.revokedAt, undefined);
  });

  test('webhook secret: created once per tenant even when nodes ask at the same time', async () => {
    const stores = [context.store(), ...(await Promise.all([...Array(7)].map(() => context.open())))];
    const secrets = await Promise.all(
      stores.map((store, index) => store.keys.webhookSecret('tenant-a', () => `whsec_candidate${index}`)),
    );
    assert.equal(new Set(secrets).size, 1);
    assert.match(secrets[0]!, /^whsec_candidate\d$/);
    const again = await context.store().keys.webhookSecret('tenant-a', () => {
      throw new Error('must not create a second secret');
    });
    assert.equal(again, secrets[0]);
    const other = await context.store().keys.webhookSecret('tenant-b', () => 'whsec_b');
    assert.equal(other, 'whsec_b');
  });
}

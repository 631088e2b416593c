import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STRICT_POLICY } from '../../../src/policy/policy.ts';
import { type ContractContext, newJob } from './fixtures.ts';

export function policiesContract(context: ContractContext): void {
  test('policies: tenant policy stored per tenant, replaced, removed back to the default', async () => {
    const store = context.store();
    assert.equal(await store.policies.get('tenant-a'), undefined);
    await store.policies.set('tenant-a', STRICT_POLICY);
    assert.deepEqual(await store.policies.get('tenant-a'), STRICT_POLICY);
    assert.equal(await store.policies.get('tenant-b'), undefined, 'other tenants keep the default');
    const other = await context.open();
    await other.policies.set('tenant-a', { block: ['macros'] });
    assert.deepEqual(await store.policies.get('tenant-a'), { block: ['macros'] }, 'seen by every node');
    await store.policies.set('tenant-a', undefined);
    assert.equal(await store.policies.get('tenant-a'), undefined);
  });

  test('a job keeps the policy it was submitted under', async () => {
    const store = context.store();
    const withPolicy = await store.jobs.submit(newJob({ policy: STRICT_POLICY }));
    assert.deepEqual(withPolicy.policy, STRICT_POLICY);
    assert.deepEqual((await store.jobs.get(withPolicy.tenantId, withPolicy.id))?.policy, STRICT_POLICY);
    const leased = await store.jobs.lease(30_000);
    assert.deepEqual(leased?.job.policy, STRICT_POLICY);
    const plain = await store.jobs.submit(newJob());
    assert.equal(plain.policy, undefined);
  });
}

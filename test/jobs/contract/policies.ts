import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STRICT_POLICY } from '../../../src/policy/policy.ts';
import { type ContractContext, newJob } from './fixtures.ts';

export function policiesContract(context: ContractContext): void {
  test('tenant policy: stored per tenant, replaced, removed back to the default', async () => {
    const store = context.store();
    assert.equal(await store.getTenantPolicy('tenant-a'), undefined);
    await store.setTenantPolicy('tenant-a', STRICT_POLICY);
    assert.deepEqual(await store.getTenantPolicy('tenant-a'), STRICT_POLICY);
    assert.equal(await store.getTenantPolicy('tenant-b'), undefined, 'other tenants keep the default');
    const other = await context.open();
    await other.setTenantPolicy('tenant-a', { block: ['macros'] });
    assert.deepEqual(await store.getTenantPolicy('tenant-a'), { block: ['macros'] }, 'seen by every node');
    await store.setTenantPolicy('tenant-a', undefined);
    assert.equal(await store.getTenantPolicy('tenant-a'), undefined);
  });

  test('a job keeps the policy it was submitted under', async () => {
    const store = context.store();
    const withPolicy = await store.submitJob(newJob({ policy: STRICT_POLICY }));
    assert.deepEqual(withPolicy.policy, STRICT_POLICY);
    assert.deepEqual((await store.getJob(withPolicy.tenantId, withPolicy.id))?.policy, STRICT_POLICY);
    const leased = await store.leaseNextJob(30_000);
    assert.deepEqual(leased?.job.policy, STRICT_POLICY);
    const plain = await store.submitJob(newJob());
    assert.equal(plain.policy, undefined);
  });
}

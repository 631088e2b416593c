import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ScanGateError } from '../../../src/errors.ts';
import type { NewCallbackDelivery, NewScanJob, ScanJob, ScanResult } from '../../../src/scan.ts';
import type { Store } from '../../../src/store/contracts.ts';

export interface ContractContext {
  /** The store of the current test. */
  store(): Store;
  /** Another store on the same database (another node), closed with the test's fixture. */
  open(): Promise<Store>;
}

export const CLEAN: ScanResult = {
  status: 'clean',
  size: 68,
  sha256: 'a'.repeat(64),
  engine: 'clamav',
  engineVersion: '1.4.6',
  signatureVersion: '27000',
  downloadTimeMs: 12,
  scanTimeMs: 3,
};
export const INFECTED: ScanResult = { ...CLEAN, status: 'infected', finding: 'Eicar-Signature.UNOFFICIAL' };
export const UNSCANNABLE: ScanResult = { status: 'unscannable', reason: 'too_large', detail: 'over 1 GiB' };

export const HOUR_MS = 3_600_000;

export function newJob(overrides: Partial<NewScanJob> = {}): NewScanJob {
  return {
    id: randomUUID(),
    tenantId: 'tenant-a',
    dialect: 'bucketav',
    source: { kind: 'url', url: 'https://example.com/file.bin', headers: { authorization: 'Bearer x' } },
    ...overrides,
  };
}

export function newDelivery(overrides: Partial<NewCallbackDelivery> = {}): NewCallbackDelivery {
  return {
    id: `msg_${randomUUID()}`,
    url: 'https://receiver.example.com/hook',
    headers: { 'x-client': 'yes' },
    body: '{"status":"clean"}',
    ...overrides,
  };
}

/** Submits a job and runs it to `result` (the store must have no other eligible job). */
export async function finishedJob(
  store: Store,
  result: ScanResult,
  overrides: Partial<NewScanJob> = {},
  delivery?: NewCallbackDelivery,
): Promise<ScanJob> {
  const submitted = await store.jobs.submit(newJob(overrides));
  const leased = await store.jobs.lease(60_000);
  assert.equal(leased?.job.id, submitted.id, 'the finished job must be the only eligible one');
  assert.equal(await store.jobs.complete(submitted.id, leased.leaseToken, result, delivery), true);
  return (await store.jobs.get(submitted.tenantId, submitted.id))!;
}

export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ScanGateError, `expected a ScanGateError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

/** Allowance between this process's clock and the database's (PostgreSQL stamps with now()). */
export const CLOCK_SLACK_MS = 2_000;

export function assertNear(actual: Date | undefined, expectedMs: number, label: string): void {
  assert.ok(actual, `${label} is missing`);
  assert.ok(
    Math.abs(actual.getTime() - expectedMs) <= CLOCK_SLACK_MS,
    `${label}: ${actual.toISOString()} is not near ${new Date(expectedMs).toISOString()}`,
  );
}

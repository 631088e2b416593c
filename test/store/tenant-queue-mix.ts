import assert from 'node:assert/strict';
import type { JobCompletion, LeasedJob, Store } from '../../src/store/contracts.ts';
import { CLEAN, newJob } from './contract/fixtures.ts';

/** One tenant's row of tenant_queue, or the same figures recounted from jobs. */
export interface TenantQueueRow {
  tenant_id: string;
  /** Running jobs, where the dialect stores the count (SQLite); PostgreSQL counts live leases at each pick. */
  running?: number;
  /** Epoch ms, or null when the tenant has nothing queued. */
  next_due: number | null;
}

/** A small deterministic generator (mulberry32): a failing mix can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Drives `steps` random operations through the store's own API over a few tenants: submits one at a
 * time and in batches, leases (some expiring at once, so later leases reclaim them), heartbeats,
 * completions one at a time and in batches, retries (some due now, some later), releases and the
 * retention sweep. Every operation that changes tenant_queue's inputs is in the mix.
 */
export async function randomQueueMix(store: Store, random: () => number, steps: number): Promise<void> {
  const tenants = ['t-a', 't-b', 't-c', 't-d', 't-e'];
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  let held: LeasedJob[] = [];
  const takeHeld = (): LeasedJob | undefined => {
    if (held.length === 0) return undefined;
    const index = Math.floor(random() * held.length);
    const [leased] = held.splice(index, 1);
    return leased;
  };
  const options = () => ({ maxRunningPerTenant: random() < 0.3 ? 2 : 0 });
  for (let step = 0; step < steps; step++) {
    const roll = random();
    if (roll < 0.2) {
      await store.jobs.submit(newJob({ tenantId: pick(tenants) }));
    } else if (roll < 0.3) {
      const batch = Array.from({ length: 1 + Math.floor(random() * 6) }, () =>
        newJob({ tenantId: pick(tenants) }),
      );
      await store.jobs.submitMany(batch);
    } else if (roll < 0.45) {
      const leased = await store.jobs.lease(random() < 0.15 ? 0 : 60_000, options());
      if (leased) held.push(leased);
    } else if (roll < 0.55) {
      held.push(...(await store.jobs.leaseMany(60_000, 1 + Math.floor(random() * 4), options())));
    } else if (roll < 0.65) {
      const leased = takeHeld();
      if (leased) await store.jobs.complete(leased.job.id, leased.leaseToken, CLEAN);
    } else if (roll < 0.72) {
      const batch: JobCompletion[] = [];
      for (let count = Math.floor(random() * 4); count > 0; count--) {
        const leased = takeHeld();
        if (leased) batch.push({ jobId: leased.job.id, leaseToken: leased.leaseToken, result: CLEAN });
      }
      await store.jobs.completeMany(batch);
    } else if (roll < 0.8) {
      const leased = takeHeld();
      const retryAt = new Date(Date.now() + (random() < 0.5 ? -1_000 : 3_600_000));
      if (leased) await store.jobs.retry(leased.job.id, leased.leaseToken, 'transient', retryAt);
    } else if (roll < 0.86) {
      const leased = takeHeld();
      if (leased) await store.jobs.release(leased.job.id, leased.leaseToken);
    } else if (roll < 0.93) {
      const leased = held.length > 0 ? pick(held) : undefined;
      if (leased) await store.jobs.extendLease(leased.job.id, leased.leaseToken, 60_000);
    } else {
      await store.jobs.sweepExpired(new Date(Date.now() + 1_000));
      // Tokens of reclaimed leases are stale now; drop a few so the mix keeps finding live ones.
      held = held.filter(() => random() < 0.8);
    }
  }
}

/** Asserts tenant_queue holds exactly what a recount of the jobs table gives. */
export function assertMatchesRecount(stored: TenantQueueRow[], recount: TenantQueueRow[]): void {
  const byTenant = (rows: TenantQueueRow[]) =>
    rows
      .filter((row) => Number(row.running ?? 0) !== 0 || row.next_due !== null)
      .map((row) => ({ tenant_id: row.tenant_id, running: Number(row.running ?? 0), next_due: row.next_due }))
      .sort((a, b) => a.tenant_id.localeCompare(b.tenant_id));
  const expected = byTenant(recount);
  assert.ok(expected.length > 0, 'the mix leaves unfinished jobs to compare');
  assert.deepEqual(byTenant(stored), expected);
}

import { afterEach, beforeEach } from 'node:test';
import type { Store } from '../../src/store/contracts.ts';
import { batchesContract } from './contract/batches.ts';
import type { ContractContext } from './contract/fixtures.ts';
import { leasingContract } from './contract/leasing.ts';
import { outboxContract } from './contract/outbox.ts';
import { policiesContract } from './contract/policies.ts';
import { recordsContract } from './contract/records.ts';
import { submitAndReadContract } from './contract/submit-and-read.ts';

/** One database for one test; every store it opens is another node or process on that database. */
export interface StoreFixture {
  /** A new, initialised store on the fixture's database (its own connection or pool). */
  open(): Promise<Store>;
  /** Closes every store opened and removes the database. */
  destroy(): Promise<void>;
}

/**
 * The contract both Store implementations pass: call it inside a describe() with a factory for a
 * fresh, empty database. Each test gets its own database, so tests run in any order.
 */
export function jobStoreContract(createFixture: () => Promise<StoreFixture>): void {
  let fixture: StoreFixture | undefined;
  let store: Store | undefined;
  const context: ContractContext = {
    store: () => store!,
    open: () => fixture!.open(),
  };
  beforeEach(async () => {
    fixture = await createFixture();
    store = await fixture.open();
  });
  afterEach(async () => {
    await fixture?.destroy();
    fixture = undefined;
    store = undefined;
  });
  submitAndReadContract(context);
  leasingContract(context);
  batchesContract(context);
  outboxContract(context);
  recordsContract(context);
  policiesContract(context);
}

import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../../config.ts';
import type { Store } from '../../store/contracts.ts';

/** What the commands that work on a tenant's stored data (keys, policy) share. */
const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function tenantName(value: string): string {
  if (!TENANT_NAME.test(value))
    throw new InvalidArgumentError(
      'use 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  return value;
}

/** Opens the configured store (SQLite or DATABASE_URL) for one command, and closes it after. */
export async function withStore<T>(work: (store: Store) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env);
  const { openStore } = await import('../../store/open-store.ts');
  const store = await openStore(config);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

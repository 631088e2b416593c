import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { generateApiKey, hashApiKey } from '../../http/api-keys.ts';
import type { ApiKeyRecord } from '../../scan.ts';
import { registerPolicyCommand } from './policy.ts';
import { tenantName, withStore } from './tenant-store.ts';

/** Characters of a key kept for people to tell keys apart: `sg_` plus 7 of its 43 random ones. */
const PREFIX_LENGTH = 10;

/** A new stored key: only its SHA-256 and a short prefix are kept; the key itself is returned once. */
export function newApiKeyRecord(tenantId: string, now = new Date()): { key: string; record: ApiKeyRecord } {
  const key = generateApiKey();
  return {
    key,
    record: {
      id: `key_${randomBytes(6).toString('hex')}`,
      tenantId,
      keyHash: hashApiKey(key),
      prefix: key.slice(0, PREFIX_LENGTH),
      createdAt: now,
    },
  };
}

function keyView(record: ApiKeyRecord): Record<string, string | null> {
  return {
    id: record.id,
    tenant: record.tenantId,
    prefix: record.prefix,
    created_at: record.createdAt.toISOString(),
    revoked_at: record.revokedAt?.toISOString() ?? null,
  };
}

function printTable(records: ApiKeyRecord[]): void {
  const rows = [
    ['ID', 'TENANT', 'PREFIX', 'CREATED', 'REVOKED'],
    ...records.map((record) => [
      record.id,
      record.tenantId,
      `${record.prefix}…`,
      record.createdAt.toISOString(),
      record.revokedAt?.toISOString() ?? '-',
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows)
    console.log(
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    );
}

/**
 * `scangate keys create|list|revoke|policy`: API keys (and each tenant's content policy) kept in the configured store (SQLite in the data
 * directory, or DATABASE_URL), read from the same environment as `scangate serve`. Keys from
 * API_KEYS are configuration and are not listed here.
 */
export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('manage API keys stored in the database');

  keys
    .command('create')
    .description('create a key for a tenant and print it (shown once: only its hash is stored)')
    .requiredOption('--tenant <name>', 'the tenant whose scans the key reads and writes', tenantName)
    .option('--json', 'print {id, tenant, prefix, key} as JSON')
    .action(async (options: { tenant: string; json?: boolean }) => {
      const { key, record } = newApiKeyRecord(options.tenant);
      await withStore((store) => store.keys.create(record));
      if (options.json) console.log(JSON.stringify({ ...keyView(record), key }, null, 2));
      else {
        console.log(key);
        console.error(
          `created ${record.id} for tenant ${record.tenantId}; store the key now, it is not shown again`,
        );
      }
    });

  keys
    .command('list')
    .description('list stored keys (id, tenant, prefix, created, revoked), never the keys themselves')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const records = await withStore((store) => store.keys.list());
      if (options.json) console.log(JSON.stringify(records.map(keyView), null, 2));
      else if (records.length === 0) console.error('no stored keys (keys in API_KEYS are not listed)');
      else printTable(records);
    });

  keys
    .command('revoke')
    .description('revoke a key by its id: requests with it are refused at once (401)')
    .argument('<id>', 'the key id from `keys list`')
    .action(async (id: string) => {
      const revoked = await withStore((store) => store.keys.revoke(id));
      if (!revoked) {
        console.error(`no key with id ${id}`);
        process.exitCode = 1;
        return;
      }
      console.error(`revoked ${id}`);
    });

  registerPolicyCommand(keys);
}

import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config.ts';
import { messageOf } from '../../errors.ts';
import type { CheckResult } from './check-result.ts';

const LABEL: Record<CheckResult['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

function print(results: CheckResult[]): void {
  const width = Math.max(...results.map((result) => result.name.length));
  for (const result of results) {
    console.log(`${LABEL[result.status]}  ${result.name.padEnd(width)}  ${result.detail}`);
    if (result.fix) console.log(`${' '.repeat(width + 8)}fix: ${result.fix}`);
  }
}

async function runDoctor(options: { json?: boolean }): Promise<number> {
  const results: CheckResult[] = [];
  try {
    const config = loadConfig(process.env);
    const engine = config.engine.addresses.length > 0 ? config.engine.addresses.join(', ') : 'managed clamd';
    const store = config.store.databaseUrl ? 'PostgreSQL' : 'SQLite';
    results.push({
      name: 'configuration',
      status: 'ok',
      detail: `${store}, ${engine}, data in ${config.dataDir}`,
    });
    const { blobStoreCheck, clamdChecks, storeChecks } = await import('./doctor-checks.ts');
    // Independent checks run together: a slow database does not hide a missing clamd.
    const [clamd, database, blobs] = await Promise.all([
      clamdChecks(config),
      storeChecks(config),
      blobStoreCheck(config),
    ]);
    results.push(...clamd, ...database, blobs);
  } catch (error) {
    results.push({
      name: 'configuration',
      status: 'fail',
      detail: messageOf(error),
      fix:
        error instanceof ConfigError
          ? 'correct the environment variables named above'
          : 'see the error above',
    });
  }
  if (options.json) console.log(JSON.stringify({ checks: results }, null, 2));
  else print(results);
  const failed = results.filter((result) => result.status === 'fail').length;
  if (!options.json) {
    const warned = results.filter((result) => result.status === 'warn').length;
    console.log(
      failed
        ? `\n${failed} check(s) failed`
        : `\nall checks passed${warned ? ` (${warned} warning(s))` : ''}`,
    );
  }
  return failed > 0 ? 1 : 0;
}

/** `scangate doctor`: checks what the configured service needs, and says what to fix. */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check clamd, signatures, database and blob store for this configuration; exit 1 if any check fails',
    )
    .option('--json', 'print the checks as JSON')
    .action(async (options: { json?: boolean }) => {
      process.exitCode = await runDoctor(options);
    });
}

#!/usr/bin/env node
import { Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config.ts';
import { SCANGATE_VERSION } from '../version.ts';
import { registerBucketCommands } from './commands/bucket.ts';
import { registerDoctorCommand } from './commands/doctor.ts';
import { registerKeysCommands } from './commands/keys.ts';
import { registerScanCommand } from './commands/scan.ts';

const program = new Command('scangate')
  .description('Self-hostable malware scanning over HTTP, backed by ClamAV')
  .version(SCANGATE_VERSION, '-V, --version', 'print the scangate version');

async function serve(role: string | undefined): Promise<void> {
  const config = loadConfig(process.env, role ? { role } : {});
  // Loaded here, not at the top: `scangate scan` and `keys` start without the whole service graph.
  const { startService } = await import('./service.ts');
  const service = await startService(config);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      service.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    service.logger.info({ signal }, 'shutting down');
    service.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

program
  .command('serve')
  .description('run the service (API, workers and callback delivery, or one role)')
  .addOption(new Option('--role <role>', 'which part to run').choices(['all', 'api', 'worker']))
  .action((options: { role?: string }) => serve(options.role));

program
  .command('worker')
  .description('run scan workers and callback delivery only (same as serve --role worker)')
  .action(() => serve('worker'));

registerScanCommand(program);
registerKeysCommands(program);
registerDoctorCommand(program);
registerBucketCommands(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(error);
  process.exit(2);
});

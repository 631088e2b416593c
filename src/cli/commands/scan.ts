import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type NativeScan, ScangateApiError, ScangateClient, type SubmitOptions } from 'scangate/client';
import { messageOf } from '../../errors.ts';
import { formatBytes, ProgressBar } from './progress-bar.ts';
import { expandedTargets, listedTargets, runBatch } from './scan-batch.ts';
import { EXIT, exitCodeForStatus, parseScanTarget, type ScanTarget } from './scan-target.ts';

interface ScanCommandOptions {
  url: string;
  key?: string;
  json?: boolean;
  wait: boolean;
  progress?: boolean;
  traceId?: string;
  callbackUrl?: string;
  customData?: string;
  filename?: string;
  s3Version?: string;
  timeout: number;
  concurrency: number;
  filesFrom?: string;
}

/** Told to every user without a key: the command that really creates one. */
export const NO_KEY_HINT =
  'no API key: pass --key or set SCANGATE_API_KEY (create one with `scangate keys create --tenant NAME`)';

function describe(scan: NativeScan): string {
  const source =
    scan.source.kind === 'upload'
      ? (scan.source.filename ?? 'upload')
      : scan.source.kind === 'url'
        ? scan.source.url
        : `s3://${scan.source.bucket}/${scan.source.key}`;
  const facts: string[] = [];
  if (scan.size !== null) facts.push(formatBytes(scan.size));
  if (scan.scan_time !== null) facts.push(`scanned in ${scan.scan_time} s`);
  if (scan.cached) facts.push('cached verdict');
  const why = scan.finding ?? [scan.reason, scan.detail].filter(Boolean).join(': ');
  return `${scan.status}: ${source}${why ? ` — ${why}` : ''}${facts.length ? ` (${facts.join(', ')})` : ''}`;
}

async function submit(
  client: ScangateClient,
  target: ScanTarget,
  options: ScanCommandOptions,
): Promise<NativeScan> {
  const common: SubmitOptions = {};
  if (options.traceId) common.traceId = options.traceId;
  if (options.callbackUrl) common.callbackUrl = options.callbackUrl;
  if (options.customData) common.customData = options.customData;
  switch (target.kind) {
    case 'url':
      return client.scanUrl(target.url, common);
    case 's3':
      return client.scanS3(target.object, common);
    case 'file':
    case 'stdin': {
      const input = target.kind === 'file' ? target.path : process.stdin;
      const label = options.filename ?? (target.kind === 'file' ? path.basename(target.path) : 'stdin');
      const showProgress = options.progress ?? process.stderr.isTTY === true;
      const bar = showProgress ? new ProgressBar(process.stderr, label) : undefined;
      const scan = await client.scanFile(input, {
        ...common,
        ...(options.filename ? { filename: options.filename } : {}),
        ...(bar ? { onProgress: (sent: number, total: number | undefined) => bar.update(sent, total) } : {}),
      });
      bar?.finish();
      return scan;
    }
  }
}

async function runScan(targetText: string, options: ScanCommandOptions): Promise<number> {
  try {
    const target = parseScanTarget(targetText, options.s3Version);
    if (!options.key) throw new ScangateApiError(0, 'missing_key', NO_KEY_HINT);
    const client = new ScangateClient({ baseUrl: options.url, apiKey: options.key });
    const submitted = await submit(client, target, options);
    const scan = options.wait
      ? await client.waitForResult(submitted.id, { timeoutMs: options.timeout * 1000 })
      : submitted;
    process.stdout.write(options.json ? `${JSON.stringify(scan, null, 2)}\n` : `${describe(scan)}\n`);
    return options.wait ? exitCodeForStatus(scan.status) : EXIT.clean;
  } catch (error) {
    const apiError =
      error instanceof ScangateApiError ? error : new ScangateApiError(0, 'cli_error', messageOf(error));
    if (options.json) {
      const body = { error: { code: apiError.code, message: apiError.message, status: apiError.status } };
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    }
    const status = apiError.status ? `, HTTP ${apiError.status}` : '';
    process.stderr.write(`scangate scan: ${apiError.message} (${apiError.code}${status})\n`);
    return EXIT.error;
  }
}

/** Several targets, a directory or a file list: scanned in parallel, one line each, then a summary. */
async function isBatch(targets: string[], options: ScanCommandOptions): Promise<boolean> {
  if (targets.length !== 1 || options.filesFrom !== undefined) return true;
  const { lstat } = await import('node:fs/promises');
  return (await lstat(targets[0]!).catch(() => undefined))?.isDirectory() === true;
}

async function runScans(targets: string[], options: ScanCommandOptions): Promise<number> {
  if (!(await isBatch(targets, options))) return runScan(targets[0]!, options);
  if (!options.key) {
    process.stderr.write(`scangate scan: ${NO_KEY_HINT}\n`);
    return EXIT.error;
  }
  const client = new ScangateClient({ baseUrl: options.url, apiKey: options.key });
  async function* all(): AsyncGenerator<string> {
    yield* targets;
    if (options.filesFrom === '-') yield* listedTargets(process.stdin);
    else if (options.filesFrom !== undefined) {
      const { createReadStream } = await import('node:fs');
      yield* listedTargets(createReadStream(options.filesFrom));
    }
  }
  return runBatch(client, expandedTargets(all()), {
    concurrency: options.concurrency,
    json: options.json === true,
    timeoutSeconds: options.timeout,
    ...(options.s3Version ? { s3Version: options.s3Version } : {}),
  });
}

/** `scangate scan <file|url|s3://bucket/key|->`: submit, wait, exit 0 clean / 1 infected / 2 unscannable / 3 error / 4 blocked by the content policy. */
export function registerScanCommand(program: Command): void {
  program
    .command('scan')
    .description(
      'scan a file, URL or S3 object with a running scangate; exit 0 clean, 1 infected, 2 unscannable, 3 error, 4 blocked by the content policy',
    )
    .argument(
      '[targets...]',
      'file paths or directories (scanned recursively), - for standard input, http(s) URLs, or s3://bucket/key',
    )
    .addOption(
      new Option('--url <url>', 'scangate base URL').env('SCANGATE_URL').default('http://127.0.0.1:8080'),
    )
    .addOption(new Option('--key <key>', 'API key').env('SCANGATE_API_KEY'))
    .option('--json', 'print the native result JSON')
    .option('--no-wait', 'print the submitted scan and exit 0 without waiting for the verdict')
    .option('--progress', 'show the upload progress bar (default: when stderr is a terminal)')
    .option('--no-progress', 'never show the upload progress bar')
    .option('--trace-id <id>', 'your ID for this scan')
    .option('--callback-url <url>', 'also POST the signed result to this URL')
    .option('--custom-data <text>', 'passed through to the callback (at most 16 KB)')
    .option('--filename <name>', 'name recorded for an uploaded file (default: its base name)')
    .option('--s3-version <id>', 'version of the S3 object')
    .option(
      '--files-from <file>',
      'also scan the paths listed in this file, one per line (- for standard input)',
    )
    .addOption(
      new Option('--concurrency <n>', 'scans at once when scanning several targets')
        .default(4)
        .argParser((value) => {
          const count = Number(value);
          if (!Number.isInteger(count) || count < 1 || count > 64)
            throw new InvalidArgumentError('must be an integer from 1 to 64');
          return count;
        }),
    )
    .addOption(
      new Option('--timeout <seconds>', 'give up waiting after this long').default(600).argParser((value) => {
        const seconds = Number(value);
        if (!Number.isFinite(seconds) || seconds <= 0)
          throw new InvalidArgumentError('must be a positive number of seconds');
        return seconds;
      }),
    )
    // Usage errors must not exit 1 (that means infected): they are errors, exit 3.
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : EXIT.error);
    })
    .action(async (targets: string[], options: ScanCommandOptions) => {
      if (targets.length === 0 && options.filesFrom === undefined) {
        process.stderr.write(
          'scangate scan: name a file, directory, URL or s3://bucket/key, or use --files-from\n',
        );
        process.exitCode = EXIT.error;
        return;
      }
      process.exitCode = await runScans(targets, options);
    });
}

import { type Command, Option } from 'commander';
import type { BucketScanView } from 'scangate/client';
import { formatBytes } from './progress-bar.ts';
import { EXIT } from './scan-target.ts';

interface BucketScanOptions {
  url: string;
  key?: string;
  tag?: string | boolean;
  quarantine?: string;
  delete?: boolean;
  since?: string;
  wait: boolean;
  json?: boolean;
  progress?: boolean;
  interval: number;
}

/** The progress figures of GET /v1/buckets/scans/{id}, as far as the progress line uses them. */
export type BucketScanProgress = Pick<
  BucketScanView,
  | 'id'
  | 'state'
  | 'bucket'
  | 'prefix'
  | 'listed'
  | 'queued'
  | 'clean'
  | 'infected'
  | 'unscannable'
  | 'other'
  | 'failed'
  | 'skipped'
  | 'bytes'
  | 'rate'
  | 'eta_seconds'
  | 'error'
>;

const WIDTH = 24;
const FINISHED = new Set(['done', 'cancelled', 'failed']);

/** `s3://b/p [======>    ]  57%  570/1000 objects  clean 560  infected 8  unscannable 2  35.1/s  ETA 12 s`. */
export function bucketProgressLine(scan: BucketScanProgress): string {
  const settled = scan.listed - scan.queued;
  const counts = `clean ${scan.clean}  infected ${scan.infected + scan.other}  unscannable ${scan.unscannable}${
    scan.failed + scan.skipped > 0 ? `  failed ${scan.failed}  skipped ${scan.skipped}` : ''
  }`;
  const tail = `${counts}  ${scan.rate}/s${scan.eta_seconds !== null && scan.state !== 'done' ? `  ETA ${scan.eta_seconds} s` : ''}`;
  const label = `s3://${scan.bucket}/${scan.prefix}`;
  // The total is known only once the listing is done; until then the count alone.
  if (scan.state === 'listing' || scan.listed === 0) {
    return `${label}  ${scan.state}  ${settled}/${scan.listed}+ objects  ${tail}`;
  }
  const fraction = Math.min(1, settled / scan.listed);
  const filled = Math.round(fraction * WIDTH);
  const bar = filled >= WIDTH ? '='.repeat(WIDTH) : `${'='.repeat(filled)}>${' '.repeat(WIDTH - filled - 1)}`;
  return `${label} [${bar}] ${`${Math.floor(fraction * 100)}%`.padStart(4)}  ${settled}/${scan.listed} objects (${formatBytes(scan.bytes)})  ${tail}`;
}

/** 1 when anything was infected, 2 when something could not be judged, else 0 (like `scangate scan`). */
export function exitCodeForBucketScan(scan: BucketScanProgress): number {
  if (scan.state === 'failed' || scan.state === 'cancelled') return EXIT.error;
  if (scan.infected + scan.other > 0) return EXIT.infected;
  if (scan.unscannable + scan.failed > 0) return EXIT.unscannable;
  return EXIT.clean;
}

function parseLocation(text: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(text);
  if (!match) throw new Error(`"${text}" is not an S3 location: use s3://bucket/prefix`);
  return { bucket: match[1]!, prefix: match[2] ?? '' };
}

async function call<T>(options: BucketScanOptions, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(new URL(path, options.url), {
    method,
    headers: {
      authorization: `Bearer ${options.key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await response.json().catch(() => ({}))) as T & { code?: string; message?: string };
  if (!response.ok) {
    throw new Error(
      `${parsed.message ?? response.statusText} (${parsed.code ?? 'error'}, HTTP ${response.status})`,
    );
  }
  return parsed;
}

async function runBucketScan(target: string, options: BucketScanOptions): Promise<number> {
  try {
    if (!options.key) throw new Error('no API key: pass --key or set SCANGATE_API_KEY');
    const { bucket, prefix } = parseLocation(target);
    const actions: Record<string, string> = {
      tag:
        options.tag === undefined || options.tag === false
          ? 'none'
          : options.tag === true
            ? 'scangate'
            : options.tag,
      infected: options.quarantine ? 'quarantine' : options.delete ? 'delete' : 'none',
    };
    if (options.quarantine) actions.quarantine = options.quarantine;
    let scan = await call<BucketScanProgress>(options, 'POST', '/v1/buckets/scans', {
      bucket,
      prefix,
      actions,
      ...(options.since ? { since: new Date(options.since).toISOString() } : {}),
    });
    const showProgress = options.progress ?? process.stderr.isTTY === true;
    let lastLength = 0;
    const draw = (final: boolean) => {
      if (!showProgress) return;
      let line = bucketProgressLine(scan);
      if (process.stderr.columns && line.length >= process.stderr.columns)
        line = line.slice(0, process.stderr.columns - 1);
      process.stderr.write(`\r${line.padEnd(lastLength)}${final ? '\n' : ''}`);
      lastLength = line.length;
    };
    while (options.wait && !FINISHED.has(scan.state)) {
      draw(false);
      await new Promise((resolve) => setTimeout(resolve, options.interval));
      scan = await call<BucketScanProgress>(options, 'GET', `/v1/buckets/scans/${scan.id}`);
    }
    if (options.wait) draw(true);
    if (options.json) process.stdout.write(`${JSON.stringify(scan, null, 2)}\n`);
    else {
      process.stdout.write(
        `${scan.state}: s3://${bucket}/${prefix} — ${scan.listed} objects, ${scan.clean} clean, ${scan.infected + scan.other} infected, ${scan.unscannable} unscannable, ${scan.failed} failed (scan ${scan.id})${scan.error ? `: ${scan.error}` : ''}\n`,
      );
    }
    return options.wait ? exitCodeForBucketScan(scan) : EXIT.clean;
  } catch (error) {
    process.stderr.write(`scangate bucket scan: ${(error as Error).message}\n`);
    return EXIT.error;
  }
}

/** `scangate bucket scan s3://bucket/prefix [--tag] [--quarantine s3://q/]`: a whole-bucket scan with a progress bar. */
export function registerBucketCommands(program: Command): void {
  const bucket = program.command('bucket').description('scan whole S3 buckets with a running scangate');
  bucket
    .command('scan')
    .description(
      'scan every object under s3://bucket/prefix; exit 0 all clean, 1 infected, 2 unscannable, 3 error',
    )
    .argument('<location>', 's3://bucket/prefix')
    .addOption(
      new Option('--url <url>', 'scangate base URL').env('SCANGATE_URL').default('http://127.0.0.1:8080'),
    )
    .addOption(new Option('--key <key>', 'API key').env('SCANGATE_API_KEY'))
    .option('--tag [style]', 'tag each object with its verdict: scangate (default) or bucketav')
    .option('--quarantine <s3-location>', 'move infected objects to s3://bucket/prefix/')
    .option('--delete', 'delete infected objects')
    .option('--since <date>', 'only objects modified at or after this date')
    .option('--no-wait', 'print the started scan and exit without waiting')
    .option('--json', 'print the final progress as JSON')
    .option('--progress', 'show the progress bar (default: when stderr is a terminal)')
    .option('--no-progress', 'never show the progress bar')
    .addOption(new Option('--interval <ms>', 'progress poll interval').default(500).argParser(Number))
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : EXIT.error);
    })
    .action(async (location: string, options: BucketScanOptions) => {
      process.exitCode = await runBucketScan(location, options);
    });
}

import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { type NativeScan, ScangateApiError, type ScangateClient } from 'scangate/client';
import { EXIT, parseScanTarget } from './scan-target.ts';

export interface BatchOptions {
  concurrency: number;
  json: boolean;
  timeoutSeconds: number;
  s3Version?: string;
}

/** One line of output: a verdict, or why there is none. */
export type BatchLine =
  | ({ target: string } & Pick<NativeScan, 'id' | 'status' | 'finding' | 'reason' | 'size' | 'sha256'>)
  | { target: string; error: { code: string; message: string; status: number } };

export interface BatchSummary {
  scanned: number;
  clean: number;
  infected: number;
  blocked: number;
  unscannable: number;
  errors: number;
}

/**
 * The exit code of a batch: the worst outcome wins. An infected file is the worst news; a file the
 * content policy refuses comes next (it must not pass either); then a file that got no verdict
 * (error), since it may be infected too; then unscannable.
 */
export function batchExitCode(summary: BatchSummary): number {
  if (summary.infected > 0) return EXIT.infected;
  if (summary.blocked > 0) return EXIT.blocked;
  if (summary.errors > 0) return EXIT.error;
  if (summary.unscannable > 0) return EXIT.unscannable;
  return EXIT.clean;
}

/** Paths named one per line (a `find` or `git ls-files` output); blank lines are skipped. */
export async function* listedTargets(input: Readable): AsyncGenerator<string> {
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line.trim()) yield line;
  }
}

/** Each target as given, except directories, whose regular files are listed recursively in name order. */
export async function* expandedTargets(
  targets: AsyncIterable<string> | Iterable<string>,
): AsyncGenerator<string> {
  for await (const target of targets) {
    const info = await lstat(target).catch(() => undefined);
    if (info?.isDirectory()) yield* filesUnder(target);
    else yield target;
  }
}

async function* filesUnder(directory: string): AsyncGenerator<string> {
  const entries = await readdir(directory, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) yield* filesUnder(full);
    // Symbolic links, sockets and devices are skipped: a link could lead out of the tree or loop.
    else if (entry.isFile()) yield full;
  }
}

async function scanOne(client: ScangateClient, target: string, options: BatchOptions): Promise<BatchLine> {
  try {
    const parsed = parseScanTarget(target, options.s3Version);
    let submitted: NativeScan;
    if (parsed.kind === 'url') submitted = await client.scanUrl(parsed.url);
    else if (parsed.kind === 's3') submitted = await client.scanS3(parsed.object);
    // A path, not a stream: the client checks it exists before anything is sent.
    else if (parsed.kind === 'file') submitted = await client.scanFile(parsed.path);
    else throw new ScangateApiError(0, 'usage', '"-" (standard input) cannot be one of several targets');
    const scan = await client.waitForResult(submitted.id, { timeoutMs: options.timeoutSeconds * 1000 });
    return {
      target,
      id: scan.id,
      status: scan.status,
      finding: scan.finding,
      reason: scan.reason,
      size: scan.size,
      sha256: scan.sha256,
    };
  } catch (error) {
    const apiError =
      error instanceof ScangateApiError
        ? error
        : new ScangateApiError(
            0,
            (error as { code?: string }).code === 'ENOENT' ? 'file_not_found' : 'cli_error',
            (error as Error).message,
          );
    return { target, error: { code: apiError.code, message: apiError.message, status: apiError.status } };
  }
}

function humanLine(line: BatchLine): string {
  if ('error' in line) return `error: ${line.target} — ${line.error.message} (${line.error.code})`;
  const why = line.finding ?? line.reason ?? '';
  return `${line.status}: ${line.target}${why ? ` — ${why}` : ''}`;
}

/**
 * Scans many targets through a running service, `concurrency` at a time, printing one line per
 * target as it finishes (JSON Lines with --json) and a summary line last. Targets are read lazily,
 * so a file list of any length on standard input needs no memory for the list.
 */
export async function runBatch(
  client: ScangateClient,
  targets: AsyncIterable<string>,
  options: BatchOptions,
  write: (text: string) => void = (text) => process.stdout.write(text),
): Promise<number> {
  const summary: BatchSummary = { scanned: 0, clean: 0, infected: 0, blocked: 0, unscannable: 0, errors: 0 };
  const iterator = targets[Symbol.asyncIterator]();
  // One reader of the iterator at a time: async generators queue their next() calls, but a
  // failing listing (unreadable directory) must stop everyone once, not once per worker.
  const next = async (): Promise<string | undefined> => {
    const item = await iterator.next();
    return item.done ? undefined : item.value;
  };
  const worker = async () => {
    for (let target = await next(); target !== undefined; target = await next()) {
      const line = await scanOne(client, target, options);
      summary.scanned++;
      if ('error' in line) summary.errors++;
      else if (
        line.status === 'clean' ||
        line.status === 'infected' ||
        line.status === 'blocked' ||
        line.status === 'unscannable'
      )
        summary[line.status]++;
      write(options.json ? `${JSON.stringify(line)}\n` : `${humanLine(line)}\n`);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  write(
    options.json
      ? `${JSON.stringify({ summary })}\n`
      : `scanned ${summary.scanned}: ${summary.clean} clean, ${summary.infected} infected, ${summary.blocked} blocked, ${summary.unscannable} unscannable, ${summary.errors} errors\n`,
  );
  return batchExitCode(summary);
}

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { DownloadResult } from './download.ts';
import type { MemoryResult } from './memory.ts';
import type { PolicyResult } from './policy.ts';
import type { RoundResult } from './rounds.ts';
import type { ScaleoutResult } from './scaleout-report.ts';
import type { SubmitLatencyResult } from './submit-latency.ts';
import type { TargetResult } from './targets.ts';
import type { CacheResult } from './verdict-cache.ts';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  os: string;
  node: string;
  clamd: string;
  /** 1-minute load average when the run started and ended: other work on the machine shows here. */
  loadAverageStart: number;
  loadAverageEnd: number;
  gitCommit: string;
  /** Files under src/ with uncommitted changes when the run started: they were measured too. */
  uncommittedSrcFiles: string[];
}

export interface BenchReport {
  command: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  settings: {
    workerConcurrency: number;
    clamdMaxThreads: number;
    maxFileSizeBytes: number;
    sizes: { name: string; bytes: number; count: number }[];
    /** Absent in results written before the full database was benchmarked. */
    fullSizes?: { name: string; bytes: number; count: number }[];
    signatures?: string[];
    concurrency: number[];
    modes: string[];
  };
  rounds: RoundResult[];
  download?: DownloadResult;
  submitLatency?: SubmitLatencyResult;
  memory?: MemoryResult;
  verdictCache?: CacheResult;
  policy?: PolicyResult;
  scaleout?: ScaleoutResult;
  targets: TargetResult[];
}

function git(args: string[], repo: string): string {
  try {
    return execFileSync('git', args, {
      cwd: repo,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return '';
  }
}

export function machineInfo(repo: string, clamdVersion: string): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: os.availableParallelism(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    clamd: clamdVersion,
    loadAverageStart: os.loadavg()[0]!,
    loadAverageEnd: Number.NaN,
    gitCommit: git(['rev-parse', '--short', 'HEAD'], repo),
    // Names alone: `git` trims its output, which took the first column of `status --porcelain`.
    uncommittedSrcFiles: [
      git(['diff', '--name-only', 'HEAD', '--', 'src'], repo),
      git(['ls-files', '--others', '--exclude-standard', '--', 'src'], repo),
    ]
      .flatMap((names) => names.split('\n'))
      .filter((name) => name.length > 0),
  };
}

const LINE_WIDTH = 110;

/**
 * JSON as the project's formatter (biome) writes it, so the results file passes `npm run lint`:
 * two-space indent, objects expanded, an array of plain values on one line when it fits.
 */
export function formatJson(value: unknown, indent = '', prefixLength = 0): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((item) => item === null || typeof item !== 'object')) {
      const inline = `[${value.map((item) => JSON.stringify(item) ?? 'null').join(', ')}]`;
      // The closing comma may follow on the same line.
      if (prefixLength + inline.length + 1 <= LINE_WIDTH) return inline;
    }
    const inner = `${indent}  `;
    return `[\n${value.map((item) => inner + formatJson(item, inner, inner.length)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    const lines = entries.map(([key, item]) => {
      const head = `${inner}${JSON.stringify(key)}: `;
      return head + formatJson(item, inner, head.length);
    });
    return `{\n${lines.join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

import path from 'node:path';
import { CLAMD_MAX_FILE_SIZE } from '../../config.ts';

const MiB = 1024 * 1024;
/** The clamd.conf parser caps every size option at 4 GB. */
const MAX_CONF_SIZE = 4095 * MiB;

export type ClamdOptionValue = string | number | boolean;

export interface ClamdConfOptions {
  /** Holds the socket, pid file, config and temp directory. */
  dir: string;
  databaseDirectory: string;
  /** scangate's own limit: clamd must be able to scan a file of exactly this size. */
  maxFileSizeBytes: number;
  maxThreads: number;
  scanTimeoutMs: number;
  /** Extra or overriding clamd.conf options (e.g. a small MaxRecursion in tests). */
  extra?: Record<string, ClamdOptionValue> | undefined;
}

export function clamdPaths(dir: string): { conf: string; socket: string; pid: string; tmp: string } {
  return {
    conf: path.join(dir, 'clamd.conf'),
    socket: path.join(dir, 'clamd.sock'),
    pid: path.join(dir, 'clamd.pid'),
    tmp: path.join(dir, 'tmp'),
  };
}

/** The clamd.conf options for a managed clamd, in file order. */
export function clamdOptions(options: ClamdConfOptions): Map<string, ClamdOptionValue> {
  const paths = clamdPaths(options.dir);
  // One byte over our limit, so that we, not clamd, decide what is too large.
  const streamLimit = Math.min(options.maxFileSizeBytes + 1, MAX_CONF_SIZE);
  // An archive counts twice (itself and its members); keep upstream's 4:1 ratio and 400M floor.
  const scanLimit = Math.min(Math.max(4 * (options.maxFileSizeBytes + 1), 400 * MiB), CLAMD_MAX_FILE_SIZE);
  // MaxFileSize = MaxScanSize, never less: clamd silently truncates a zip member larger than
  // MaxFileSize and answers OK for its prefix (even with AlertExceedsMax: EICAR behind 200 MB of
  // zeros in a 194 KB zip was "clean"), unless the prefix exhausts MaxScanSize, which alerts. The
  // outer input is already bounded by StreamMaxLength, so only members see this limit.
  const fileLimit = scanLimit;
  // clamd should give up (Heuristics.Limits.Exceeded.MaxScanTime) before our reply timeout fires.
  const scanTime = Math.max(
    1000,
    options.scanTimeoutMs - Math.min(10_000, Math.floor(options.scanTimeoutMs / 10)),
  );
  const conf = new Map<string, ClamdOptionValue>([
    ['Foreground', true],
    ['LocalSocket', paths.socket],
    ['LocalSocketMode', '660'],
    ['FixStaleSocket', true],
    ['PidFile', paths.pid],
    ['TemporaryDirectory', paths.tmp],
    ['DatabaseDirectory', options.databaseDirectory],
    ['LogTime', true],
    ['ExtendedDetectionInfo', true],
    ['StreamMaxLength', streamLimit],
    ['MaxFileSize', fileLimit],
    ['MaxScanSize', scanLimit],
    ['MaxScanTime', scanTime],
    ['MaxRecursion', 17],
    ['MaxFiles', 10000],
    // Limits fail open by default (clamd answers OK for what it skipped): make them detections.
    ['AlertExceedsMax', true],
    ['AlertEncrypted', true],
    ['HeuristicAlerts', true],
    ['MaxThreads', options.maxThreads],
    // Sources may stall (a slow download); clamd must wait for them longer than its default.
    ['ReadTimeout', 300],
    ['CommandReadTimeout', 30],
    ['SendBufTimeout', 500],
    ['IdleTimeout', 30],
    ['MaxConnectionQueueLength', 200],
    ['SelfCheck', 600],
    ['ConcurrentDatabaseReload', true],
  ]);
  for (const [key, value] of Object.entries(options.extra ?? {})) conf.set(key, value);
  return conf;
}

export function renderClamdConf(options: ClamdConfOptions): string {
  const lines = ['# Written by scangate for its managed clamd; rewritten at every start.'];
  for (const [key, value] of clamdOptions(options)) {
    if (!/^[A-Za-z]+$/.test(key)) throw new Error(`invalid clamd option name: ${JSON.stringify(key)}`);
    const text = typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value);
    if (/[\r\n]/.test(text)) throw new Error(`invalid value for clamd option ${key}`);
    lines.push(`${key} ${text}`);
  }
  return `${lines.join('\n')}\n`;
}

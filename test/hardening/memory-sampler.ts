import { readFileSync } from 'node:fs';

/** Resident memory of another process from /proc/<pid>/status (VmRSS), in bytes; undefined if gone. */
export function processRssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface RssPeaks {
  /** Peak RSS of this process (the in-process service). */
  selfBytes: number;
  /** Peak RSS of the watched process (clamd), 0 if it could not be read. */
  otherBytes: number;
}

/**
 * Samples RSS every `intervalMs` until stopped: the only way to see a peak while a bomb is
 * being scanned, since nothing reports memory at the end of a scan.
 */
export function sampleRss(otherPid: () => number | undefined, intervalMs = 50): { stop(): RssPeaks } {
  const peaks: RssPeaks = { selfBytes: process.memoryUsage().rss, otherBytes: 0 };
  const sample = () => {
    peaks.selfBytes = Math.max(peaks.selfBytes, process.memoryUsage().rss);
    const pid = otherPid();
    const other = pid === undefined ? undefined : processRssBytes(pid);
    if (other !== undefined) peaks.otherBytes = Math.max(peaks.otherBytes, other);
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

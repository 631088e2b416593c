import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { messageOf } from '../errors.ts';
import { eicarBytes } from './eicar.ts';
import type { ScanEngine } from './engine.ts';

export interface CanaryResult {
  /** True only when EICAR came back infected. */
  ok: boolean;
  finding?: string;
  /** Why the canary failed, or what it found. */
  detail: string;
  durationMs: number;
}

/**
 * Scans the EICAR test string through the same path as real scans (INSTREAM framing, reply parsing,
 * verdict rules). A clamd without a working database answers OK to everything; this is the only
 * end-to-end proof that `clean` means something. Gate readiness on it.
 */
export async function runCanary(
  engine: ScanEngine,
  options: { signal?: AbortSignal } = {},
): Promise<CanaryResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const outcome = await engine.scan(Readable.from([eicarBytes()]), {
      maxBytes: 1024,
      signal: options.signal,
    });
    const { verdict } = outcome;
    if (verdict.status === 'infected') {
      return {
        ok: true,
        finding: verdict.finding ?? '',
        detail: `EICAR found as ${verdict.finding}`,
        durationMs: elapsed(),
      };
    }
    const detail = `EICAR came back ${verdict.status}${verdict.reason ? ` (${verdict.reason})` : ''}: the engine cannot be trusted`;
    return { ok: false, detail, durationMs: elapsed() };
  } catch (error) {
    return { ok: false, detail: `canary scan failed: ${messageOf(error)}`, durationMs: elapsed() };
  }
}

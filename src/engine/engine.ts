import type { Readable } from 'node:stream';
import type { ScanOutcome } from './verdict.ts';

export interface EngineStatus {
  /** clamd addresses and whether each answered its last PING. */
  addresses: {
    address: string;
    healthy: boolean;
    lastError?: string;
    /** What this clamd reported at its last VERSION (addresses may differ during a rollout). */
    engineVersion?: string;
    signatureVersion?: string;
    /** Scans streaming to this clamd right now. */
    inFlight?: number;
  }[];
  engineVersion?: string;
  signatureVersion?: string;
  /** When the loaded signature database was built, if clamd reports it. */
  signatureDate?: Date;
}

export interface ScanOptions {
  signal?: AbortSignal;
  /**
   * Largest input accepted. The engine stops reading at maxBytes + 1 and answers unscannable
   * `too_large` without waiting for clamd's own limit (whose reply is usually lost to EPIPE).
   */
  maxBytes: number;
  /**
   * Sees every input byte, in order, as it is sent to clamd (e.g. a content inspection): the same
   * pass, never a second read. It must not throw.
   */
  observer?: ScanObserver | undefined;
}

export interface ScanObserver {
  /**
   * Takes one chunk. A promise asks the engine to read the next chunk only once it settles (the
   * observer's own work, e.g. inflating archive members off the main thread, fell behind): it must
   * not reject.
   */
  push(chunk: Buffer): void | Promise<void>;
}

/**
 * A scan engine: streams bytes into clamd and answers a ScanOutcome.
 * A verdict in the outcome is final (clean, infected, or unscannable for a reason that retrying
 * cannot change). When the engine could not judge the bytes (clamd down, connection lost, timeout)
 * it throws ScanGateError with code engine_unavailable / engine_timeout and retryable=true —
 * never a clean verdict.
 */
export interface ScanEngine {
  scan(input: Readable, options: ScanOptions): Promise<ScanOutcome>;
  status(): Promise<EngineStatus>;
  /**
   * The verdict cache key a scan started now would be stored under (see verdictCacheKey): changes
   * with the engine or the signatures; empty when they cannot be known. `fresh` asks clamd now
   * instead of answering from the last health check (a reload may have happened since).
   */
  verdictCacheKey(options?: { fresh?: boolean }): Promise<string>;
  close(): Promise<void>;
}

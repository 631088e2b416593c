import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { isScanGateError, messageOf, ScanGateError } from '../../errors.ts';
import { type Logger, silentLogger } from '../../logger.ts';
import type { EngineStatus, ScanEngine, ScanOptions } from '../engine.ts';
import { type VerdictPolicy, verdictFromReply } from '../reply-verdict.ts';
import { type ScanOutcome, unscannable, type Verdict, verdictCacheKey } from '../verdict.ts';
import { type ClamdAddress, formatClamdAddress, parseClamdAddress } from './address.ts';
import { ClamdConnection, clamdCommand } from './connection.ts';
import { streamToClamd } from './instream.ts';
import { type ClamdVersion, parseVersionReply } from './version.ts';

export interface ClamdPoolOptions extends VerdictPolicy {
  connectTimeoutMs: number;
  /** Longest wait for clamd: to take more data, and to answer once the stream has ended. */
  scanTimeoutMs: number;
  healthCheckIntervalMs: number;
  logger?: Logger | undefined;
  /** Stamped on every outcome: `clamav`, or `scangate-test` for the offline test database. */
  databaseName?: string;
  /** The active database generation of a managed clamd (see SignatureReporter.databaseTag). */
  databaseTag?: () => string | null | undefined;
  /**
   * An idle session is closed after this long: well before clamd ends it on its own (ReadTimeout,
   * 120 s by default, 300 s for the managed clamd: measured, not IdleTimeout), so clamd never
   * closes a session under a scan starting on it.
   */
  sessionIdleMs?: number;
  /** A session is not reused past this age, so no scan stays on one session forever. */
  sessionMaxAgeMs?: number;
}

const DEFAULT_SESSION_IDLE_MS = 2_000;
const DEFAULT_SESSION_MAX_AGE_MS = 60_000;

interface IdleSession {
  connection: ClamdConnection;
  generation: number;
  openedAt: number;
  timer: NodeJS.Timeout;
}

/** A connection lent to one scan, and what the pool needs to take a session back. */
interface Lease {
  state: ClamdState;
  connection: ClamdConnection;
  generation: number;
  openedAt: number;
}

interface ClamdState {
  name: string;
  address: ClamdAddress;
  healthy: boolean;
  checked: boolean;
  lastError?: string;
  inFlight: number;
  version?: ClamdVersion;
  idleSessions: IdleSession[];
  /** Bumped when sessions must not be reused (clamd reloaded or restarted). */
  sessionGeneration: number;
  /** clamd would not hold an IDSESSION: one connection per scan until the next health check. */
  sessionsRefused: boolean;
}

/**
 * A ScanEngine over one or more clamd addresses. Each address is PINGed periodically; a scan goes
 * to the healthy address with the fewest scans in flight, and when connecting fails it tries the
 * next one (no input byte has been read yet, so moving on is safe). Once bytes flow, a failure is
 * thrown as a retryable ScanGateError: the input cannot be replayed.
 *
 * Scans run on IDSESSION sessions kept per address (INSTREAM after INSTREAM on one connection: a
 * new connection per scan cost more CPU than clamd's scan of a small file). A session goes back
 * to the pool only after a stream sent to its end was answered OK or FOUND; anything else closes
 * it (clamd closes it itself after an error). Sessions are dropped when clamd reloads or restarts,
 * when idle (before clamd's own timeouts) and when old. If clamd will not hold a session, scans
 * fall back to one connection each.
 */
export class ClamdPool implements ScanEngine {
  readonly #states: ClamdState[];
  readonly #options: ClamdPoolOptions;
  readonly #logger: Logger;
  readonly #closing = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #check: Promise<void> | undefined;
  #nextTieBreak = 0;

  constructor(addresses: string[], options: ClamdPoolOptions) {
    if (addresses.length === 0) throw new Error('ClamdPool needs at least one clamd address');
    this.#states = addresses.map((text) => {
      const address = parseClamdAddress(text);
      return {
        name: formatClamdAddress(address),
        address,
        healthy: true,
        checked: false,
        inFlight: 0,
        idleSessions: [],
        sessionGeneration: 0,
        sessionsRefused: false,
      };
    });
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Checks every address once, then keeps checking in the background. */
  async start(): Promise<void> {
    await this.checkNow();
    this.#timer ??= setInterval(() => void this.checkNow(), this.#options.healthCheckIntervalMs);
    this.#timer.unref();
  }

  /** PINGs (and asks VERSION of) every address now; concurrent callers share one round. */
  checkNow(): Promise<void> {
    this.#check ??= Promise.all(this.#states.map((state) => this.#checkOne(state))).then(
      () => {
        this.#check = undefined;
      },
      () => {
        this.#check = undefined;
      },
    );
    return this.#check;
  }

  async #checkOne(state: ClamdState): Promise<void> {
    const options = {
      connectTimeoutMs: this.#options.connectTimeoutMs,
      replyTimeoutMs: this.#options.connectTimeoutMs,
      signal: this.#closing.signal,
    };
    try {
      const pong = await clamdCommand(state.address, 'PING', options);
      if (pong !== 'PONG') throw new Error(`PING answered ${JSON.stringify(pong.slice(0, 100))}`);
      const previous = state.version;
      state.version = parseVersionReply(await clamdCommand(state.address, 'VERSION', options));
      // A new version means clamd reloaded or was replaced: sessions opened before start afresh.
      if (previous && versionText(previous) !== versionText(state.version)) this.#dropSessions(state);
      state.sessionsRefused = false;
      this.#markHealthy(state);
    } catch (error) {
      if (this.#closing.signal.aborted) return;
      this.#markUnhealthy(state, error);
    }
  }

  #markHealthy(state: ClamdState): void {
    if (!state.healthy || !state.checked)
      this.#logger.info({ clamd: state.name, ...state.version }, 'clamd is healthy');
    state.healthy = true;
    state.checked = true;
    delete state.lastError;
  }

  #markUnhealthy(state: ClamdState, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (state.healthy || !state.checked)
      this.#logger.warn({ clamd: state.name, err: message }, 'clamd is unhealthy');
    state.healthy = false;
    state.checked = true;
    state.lastError = message;
  }

  /** Healthy addresses by fewest scans in flight (ties rotate), then unhealthy ones as a last resort. */
  #candidates(): ClamdState[] {
    const offset = this.#nextTieBreak++ % this.#states.length;
    const rotated = [...this.#states.slice(offset), ...this.#states.slice(0, offset)];
    const healthy = rotated.filter((state) => state.healthy).sort((a, b) => a.inFlight - b.inFlight);
    return [...healthy, ...rotated.filter((state) => !state.healthy)];
  }

  /**
   * Closes every session, idle or in use (those close when their scan ends): called after clamd
   * reloaded its database or restarted, so no later scan runs on a session opened before.
   */
  renewSessions(): void {
    for (const state of this.#states) this.#dropSessions(state);
  }

  #dropSessions(state: ClamdState): void {
    state.sessionGeneration++;
    for (const idle of state.idleSessions.splice(0)) {
      clearTimeout(idle.timer);
      idle.connection.destroy();
    }
  }

  /** An idle session of `state` if one is fit for reuse, else a new session, else a plain connection. */
  async #borrow(state: ClamdState, signal: AbortSignal): Promise<Lease> {
    const generation = state.sessionGeneration;
    const maxAgeMs = this.#options.sessionMaxAgeMs ?? DEFAULT_SESSION_MAX_AGE_MS;
    for (let idle = state.idleSessions.pop(); idle; idle = state.idleSessions.pop()) {
      clearTimeout(idle.timer);
      if (idle.connection.reusable && performance.now() - idle.openedAt < maxAgeMs)
        return { state, connection: idle.connection, generation: idle.generation, openedAt: idle.openedAt };
      idle.connection.destroy();
    }
    const connectOptions = { connectTimeoutMs: this.#options.connectTimeoutMs, signal };
    if (!state.sessionsRefused) {
      try {
        const connection = await ClamdConnection.openSession(state.address, {
          ...connectOptions,
          replyTimeoutMs: this.#options.connectTimeoutMs,
        });
        return { state, connection, generation, openedAt: performance.now() };
      } catch (error) {
        if (signal.aborted || !(isScanGateError(error) && error.details?.sessionRefused)) throw error;
        state.sessionsRefused = true;
        this.#logger.warn(
          { clamd: state.name, err: messageOf(error) },
          'clamd holds no IDSESSION: one connection per scan',
        );
      }
    }
    const connection = await ClamdConnection.open(state.address, connectOptions);
    return { state, connection, generation, openedAt: performance.now() };
  }

  /** Takes a session back for the next scan, or closes the connection. */
  #giveBack(lease: Lease, reusable: boolean): void {
    const { state, connection, generation, openedAt } = lease;
    if (
      !reusable ||
      !connection.reusable ||
      generation !== state.sessionGeneration ||
      this.#closing.signal.aborted
    ) {
      connection.destroy();
      return;
    }
    const idle: IdleSession = {
      connection,
      generation,
      openedAt,
      timer: setTimeout(() => {
        const index = state.idleSessions.indexOf(idle);
        if (index >= 0) state.idleSessions.splice(index, 1);
        connection.destroy();
      }, this.#options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS),
    };
    idle.timer.unref();
    state.idleSessions.push(idle);
  }

  async #connect(signal: AbortSignal): Promise<Lease> {
    const failures: string[] = [];
    let lastError: unknown;
    for (const state of this.#candidates()) {
      try {
        if (!state.version) {
          const options = { connectTimeoutMs: this.#options.connectTimeoutMs, signal };
          state.version = parseVersionReply(
            await clamdCommand(state.address, 'VERSION', {
              ...options,
              replyTimeoutMs: this.#options.connectTimeoutMs,
            }),
          );
        }
        const lease = await this.#borrow(state, signal);
        if (!state.healthy) this.#markHealthy(state);
        return lease;
      } catch (error) {
        if (signal.aborted) throw error;
        this.#markUnhealthy(state, error);
        failures.push(`${state.name}: ${error instanceof Error ? error.message : String(error)}`);
        lastError = error;
      }
    }
    throw new ScanGateError('engine_unavailable', `no clamd reachable (${failures.join('; ')})`, {
      retryable: true,
      cause: lastError,
    });
  }

  async scan(input: Readable, options: ScanOptions): Promise<ScanOutcome> {
    if (this.#closing.signal.aborted) throw this.#shutdownError();
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closing.signal])
      : this.#closing.signal;
    const lease = await this.#connect(signal).catch((error: unknown) => {
      throw this.#closing.signal.aborted && !options.signal?.aborted ? this.#shutdownError() : error;
    });
    const { state, connection } = lease;
    let reusable = false;
    const version = state.version!;
    const identity = {
      engine: 'clamav' as const,
      engineVersion: version.engineVersion,
      signatureVersion: version.databaseVersion ?? '',
      ...this.#databaseIdentity(),
    };
    state.inFlight++;
    try {
      const result = await streamToClamd(connection, input, {
        maxBytes: options.maxBytes,
        stallTimeoutMs: this.#options.scanTimeoutMs,
        replyTimeoutMs: this.#options.scanTimeoutMs,
        signal,
        observer: options.observer,
      });
      if (result.kind === 'too_large') {
        return {
          verdict: unscannable('too_large', `larger than the ${options.maxBytes}-byte limit`),
          size: result.bytesRead,
          sha256: '',
          ...identity,
          transferMs: result.transferMs,
          scanMs: 0,
        };
      }
      const verdict = failClosedOnZip64(
        verdictFromReply(result.reply, this.#options, result.complete),
        result.zip64LocalHeader,
      );
      // clamd keeps a session open after OK and FOUND only; after an error it closes it.
      reusable = result.complete && /^stream: (?:OK|.+ FOUND)$/.test(result.reply);
      return {
        verdict,
        size: result.size,
        sha256: result.sha256,
        ...identity,
        transferMs: result.transferMs,
        scanMs: result.scanMs,
      };
    } catch (error) {
      if (this.#closing.signal.aborted && !options.signal?.aborted) throw this.#shutdownError(error);
      if (isScanGateError(error) && error.details?.closedWhileSending && (await this.#answersPing(state))) {
        // clamd closed mid-stream yet answers at once: it refused the stream (its StreamMaxLength
        // is below ours) and its reply was lost to the write error. A crashed clamd would not answer.
        return {
          verdict: unscannable(
            'too_large',
            'clamd closed the stream early and still answers: most likely larger than its StreamMaxLength',
          ),
          size: Number(error.details.bytesRead ?? 0),
          sha256: '',
          ...identity,
          transferMs: 0,
          scanMs: 0,
        };
      }
      if (isScanGateError(error) && error.code === 'engine_unavailable') {
        this.#markUnhealthy(state, error);
        void this.checkNow();
      }
      throw error;
    } finally {
      state.inFlight--;
      this.#giveBack(lease, reusable);
    }
  }

  #databaseIdentity(): { signatureDatabase?: string; databaseTag?: string | null } {
    const identity: { signatureDatabase?: string; databaseTag?: string | null } = {};
    if (this.#options.databaseName) identity.signatureDatabase = this.#options.databaseName;
    const tag = this.#options.databaseTag?.();
    if (tag !== undefined) identity.databaseTag = tag;
    return identity;
  }

  async #answersPing(state: ClamdState): Promise<boolean> {
    const timeoutMs = Math.min(this.#options.connectTimeoutMs, 1000);
    try {
      const reply = await clamdCommand(state.address, 'PING', {
        connectTimeoutMs: timeoutMs,
        replyTimeoutMs: timeoutMs,
      });
      return reply === 'PONG';
    } catch {
      return false;
    }
  }

  #shutdownError(cause?: unknown): ScanGateError {
    return new ScanGateError('shutting_down', 'the scan engine is shutting down', { retryable: true, cause });
  }

  async status(): Promise<EngineStatus> {
    if (this.#states.some((state) => !state.checked)) await this.checkNow();
    const reference = this.#states.find((state) => state.healthy && state.version)?.version;
    const status: EngineStatus = {
      addresses: this.#states.map((state) => ({
        address: state.name,
        healthy: state.healthy,
        ...(state.lastError === undefined ? {} : { lastError: state.lastError }),
        ...(state.version ? { engineVersion: state.version.engineVersion } : {}),
        ...(state.version?.databaseVersion === undefined
          ? {}
          : { signatureVersion: state.version.databaseVersion }),
        inFlight: state.inFlight,
      })),
    };
    if (reference) {
      status.engineVersion = reference.engineVersion;
      if (reference.databaseVersion !== undefined) status.signatureVersion = reference.databaseVersion;
      if (reference.databaseDate !== undefined) status.signatureDate = reference.databaseDate;
    }
    return status;
  }

  /**
   * The engine and database version all healthy clamds share. Empty when they disagree (a rollout)
   * or when clamd reports no database version (plain signature files): the verdict cache is off then.
   */
  async verdictCacheKey(options: { fresh?: boolean } = {}): Promise<string> {
    if (options.fresh || !this.#states.some((state) => state.healthy && state.version)) await this.checkNow();
    const healthy = this.#states.filter((state) => state.healthy && state.version);
    if (healthy.length === 0) {
      throw new ScanGateError('engine_unavailable', 'no healthy clamd to ask for its signature version', {
        retryable: true,
      });
    }
    const databaseTag = this.#options.databaseTag?.();
    const keys = new Set(
      healthy.map(({ version }) =>
        verdictCacheKey({
          engineVersion: version!.engineVersion,
          signatureVersion: version!.databaseVersion ?? '',
          databaseTag,
        }),
      ),
    );
    return keys.size === 1 ? [...keys][0]! : '';
  }

  /** Stops health checks and aborts scans still in flight (they throw shutting_down). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.renewSessions();
    this.#closing.abort(
      new ScanGateError('shutting_down', 'the scan engine is shutting down', { retryable: true }),
    );
    await this.#check;
  }
}

/** clamd answers OK for a Zip64 zip it did not look inside: that OK is not a clean verdict. */
function failClosedOnZip64(verdict: Verdict, zip64LocalHeader: boolean): Verdict {
  if (verdict.status !== 'clean' || !zip64LocalHeader) return verdict;
  return unscannable('unsupported_format', 'zip with Zip64 local headers: clamd skips their members');
}

function versionText(version: ClamdVersion): string {
  return `${version.engineVersion}/${version.databaseVersion ?? ''}/${version.databaseDate?.getTime() ?? ''}`;
}

import { EventEmitter, once } from 'node:events';
import { type Logger, silentLogger } from '../logger.ts';
import type { ManagedClamd } from './clamd/managed.ts';
import { databaseFiles, databaseFingerprint } from './database-directory.ts';
import type { FreshclamRun, ManagedFreshclam } from './managed-freshclam.ts';
import type { SignatureSource } from './signature-plan.ts';

export interface SignatureUpdate {
  at: Date;
  /** updated: new files (a reload follows); up_to_date: nothing new; failed: the last good database stays. */
  outcome: 'updated' | 'up_to_date' | 'failed';
  detail: string;
}

export interface SignatureReload {
  at: Date;
  /** loaded: the first database (clamd started); reloaded: a newer one is active; failed: clamd keeps the previous one. */
  outcome: 'loaded' | 'reloaded' | 'failed';
  detail: string;
}

/** What readiness, metrics and the dashboard show about the signatures. */
export interface SignatureStatus {
  source: SignatureSource;
  /** The offline test database (SIGNATURES=test): EICAR and ClamAV's test files only. */
  test: boolean;
  databaseName: string;
  directory?: string;
  /** A database is loaded (false while scangate waits for the first one); unknown for an external clamd. */
  databaseLoaded?: boolean;
  /** Why no database is loaded, when none is. */
  waitingFor?: string;
  lastUpdate?: SignatureUpdate;
  lastSuccessfulUpdateAt?: Date;
  lastReload?: SignatureReload;
}

export interface SignatureReporter {
  status(): SignatureStatus;
  /**
   * Identifies the database generation clamd has active, for the verdict cache: null while a reload
   * is in progress or nothing is loaded (no cache then); undefined when unknowable (external clamd).
   */
  databaseTag(): string | null | undefined;
}

type LifecycleEvents = { update: [SignatureUpdate]; reload: [SignatureReload] };

export interface SignatureLifecycleOptions {
  source: SignatureSource;
  databaseName: string;
  directory: string;
  clamd: ManagedClamd;
  freshclam?: ManagedFreshclam | undefined;
  /** How often the directory is looked at for changes made by someone else (system freshclam, operator). */
  watchIntervalMs?: number;
  /** Awaited after clamd started or activated a new database, before anyone is told (the pool's health check). */
  onDatabaseActive?: () => Promise<void>;
  /** Longest wait for clamd to finish a reload (a full database takes tens of seconds). */
  reloadTimeoutMs?: number;
  logger?: Logger | undefined;
}

/**
 * Keeps the managed clamd on the newest good database in its directory: starts clamd once a first
 * database is there (freshclam may finish long after scangate started), RELOADs it when the files
 * change (after each freshclam run that downloaded something, or when someone else changed them),
 * and knows which database generation is active, so a cached verdict never outlives its signatures.
 */
export class SignatureLifecycle extends EventEmitter<LifecycleEvents> implements SignatureReporter {
  readonly #options: SignatureLifecycleOptions;
  readonly #logger: Logger;
  #loaded = false;
  #waitingFor: string | undefined;
  /** Fingerprint of the directory as clamd has it active; null while a reload is in progress. */
  #activeTag: string | null = null;
  /** Fingerprint when clamd started reading the directory (adopted once the reload is active). */
  #pendingTag: Promise<string> | undefined;
  /** The generation of the last database clamd activated (kept when a reload fails). */
  #lastGoodTag: string | null = null;
  #adopting: Promise<void> = Promise.resolve();
  /** Last fingerprint acted upon. */
  #seen = '';
  #lastUpdate: SignatureUpdate | undefined;
  #lastSuccessfulUpdateAt: Date | undefined;
  #lastReload: SignatureReload | undefined;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: SignatureLifecycleOptions) {
    super();
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    const clamd = options.clamd;
    clamd.on('reloading', () => {
      this.#activeTag = null;
      this.#pendingTag = this.#fingerprint();
    });
    clamd.on('reloaded', () => {
      const pending = this.#pendingTag ?? this.#fingerprint();
      this.#pendingTag = undefined;
      this.#adopting = pending.then((tag) => {
        this.#activeTag = tag;
        this.#recordReload('reloaded', 'clamd activated the new database');
      });
    });
    clamd.on('reload-failed', (reason) => {
      this.#pendingTag = undefined;
      // clamd keeps the previous database, whose generation is the last one that was active.
      this.#activeTag = this.#lastGoodTag;
      this.#recordReload('failed', `${reason}; clamd keeps the previous database`);
    });
    clamd.on('ready', () => {
      // A restart (after a crash) loads whatever is in the directory now.
      this.#loaded = true;
      this.#waitingFor = undefined;
      void this.#fingerprint().then((tag) => {
        this.#activeTag = tag;
        this.#lastGoodTag = tag;
      });
    });
  }

  async #fingerprint(): Promise<string> {
    return databaseFingerprint(await databaseFiles(this.#options.directory));
  }

  /** Starts clamd if a database is there (else waits for one), the directory watch and freshclam. */
  async start(): Promise<void> {
    await this.#checkDirectory();
    if (!this.#loaded && !this.#waitingFor)
      this.#waitingFor = `a signature database in ${this.#options.directory}`;
    this.#timer = setInterval(() => void this.checkNow(), this.#options.watchIntervalMs ?? 30_000);
    this.#timer.unref();
    this.#options.freshclam?.start((run) => this.#onFreshclamRun(run));
  }

  /** Looks at the directory now: starts clamd or RELOADs it when the files changed. */
  checkNow(): Promise<void> {
    this.#checking = this.#checking.then(() => this.#checkDirectory());
    return this.#checking;
  }

  async #checkDirectory(): Promise<void> {
    if (this.#stopped) return;
    const directory = this.#options.directory;
    const files = await databaseFiles(directory);
    const tag = databaseFingerprint(files);
    if (tag === this.#seen) return;
    if (files.length === 0) {
      if (!this.#loaded) {
        this.#waitingFor = `a signature database in ${directory}`;
        this.#logger.warn(
          { directory, source: this.#options.source },
          'no signature database yet: not ready, and nothing is scanned, until one arrives',
        );
      }
      this.#seen = tag;
      return;
    }
    this.#seen = tag;
    if (!this.#loaded) {
      await this.#startClamd(tag, files.length);
      return;
    }
    this.#logger.info({ directory, files: files.length }, 'signature files changed: reloading clamd');
    const clamd = this.#options.clamd;
    // Listen before asking, so a fast reload is not missed; stop listening once one event came.
    const listening = new AbortController();
    const timeout = AbortSignal.timeout(this.#options.reloadTimeoutMs ?? 15 * 60_000);
    const signal = AbortSignal.any([listening.signal, timeout]);
    const finished = Promise.race(
      (['reloaded', 'reload-failed', 'exit'] as const).map((event) => once(clamd, event, { signal })),
    ).catch(() => undefined);
    try {
      await clamd.reload();
    } catch (error) {
      listening.abort();
      this.#recordReload('failed', `RELOAD not accepted: ${(error as Error).message}`);
      this.#seen = ''; // try again at the next look
      return;
    }
    await finished;
    listening.abort();
    await this.#adopting;
    await this.#options.onDatabaseActive?.();
  }

  async #startClamd(tag: string, fileCount: number): Promise<void> {
    try {
      await this.#options.clamd.start();
      this.#loaded = true;
      this.#waitingFor = undefined;
      this.#activeTag = tag;
      this.#lastGoodTag = tag;
      await this.#options.onDatabaseActive?.();
      this.#recordReload('loaded', `clamd started with ${fileCount} database files`);
    } catch (error) {
      const message = (error as Error).message;
      this.#waitingFor = `a database clamd accepts in ${this.#options.directory} (${message.slice(0, 300)})`;
      this.#recordReload('failed', `clamd cannot start on ${this.#options.directory}: ${message}`);
      this.#seen = ''; // try again at the next look
    }
  }

  async #onFreshclamRun(run: FreshclamRun): Promise<void> {
    const before = this.#seen;
    let update: SignatureUpdate;
    if (!run.ok) {
      update = {
        at: new Date(),
        outcome: 'failed',
        detail: `freshclam exited with ${run.exitCode}: ${run.output.slice(-4).join(' | ')}`,
      };
    } else {
      this.#lastSuccessfulUpdateAt = new Date();
      const tag = await this.#fingerprint();
      update = {
        at: new Date(),
        outcome: tag === before ? 'up_to_date' : 'updated',
        detail: run.output.filter((line) => /updated|up.to.date/i.test(line)).join(' | ') || 'ok',
      };
    }
    this.#lastUpdate = update;
    const details = { outcome: update.outcome, detail: update.detail, durationMs: run.durationMs };
    if (update.outcome === 'failed')
      this.#logger.error(details, 'signature update failed: the last good database stays loaded');
    else this.#logger.info(details, 'signature update finished');
    if (update.outcome === 'updated') await this.checkNow();
    // After the reload, so that whoever waits for an update sees its database active.
    this.emit('update', update);
  }

  /** Runs freshclam now (not at the end of the interval) and resolves with its outcome, reload included. */
  async updateNow(): Promise<SignatureUpdate> {
    if (!this.#options.freshclam)
      throw new Error(`signatures come from ${this.#options.source}, not from scangate's freshclam`);
    const next = once(this, 'update');
    this.#options.freshclam.runSoon();
    const [update] = await next;
    return update;
  }

  #recordReload(outcome: SignatureReload['outcome'], detail: string): void {
    const reload: SignatureReload = { at: new Date(), outcome, detail };
    this.#lastReload = reload;
    if (outcome === 'failed') this.#logger.error({ detail }, 'signature reload failed');
    else {
      this.#lastGoodTag = this.#activeTag;
      this.#logger.info({ outcome, detail }, 'signature database active');
    }
    this.emit('reload', reload);
  }

  databaseTag(): string | null {
    return this.#loaded ? this.#activeTag : null;
  }

  status(): SignatureStatus {
    const status: SignatureStatus = {
      source: this.#options.source,
      test: this.#options.source === 'test',
      databaseName: this.#options.databaseName,
      directory: this.#options.directory,
      databaseLoaded: this.#loaded,
    };
    if (this.#waitingFor && !this.#loaded) status.waitingFor = this.#waitingFor;
    if (this.#lastUpdate) status.lastUpdate = this.#lastUpdate;
    if (this.#lastSuccessfulUpdateAt) status.lastSuccessfulUpdateAt = this.#lastSuccessfulUpdateAt;
    if (this.#lastReload) status.lastReload = this.#lastReload;
    return status;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#options.freshclam?.stop();
    await this.#checking.catch(() => undefined);
  }
}

/** The reporter for a clamd scangate does not run: it knows only what the config says. */
export function externalSignatures(test: boolean, databaseName: string): SignatureReporter {
  return {
    status: () => ({ source: 'external', test, databaseName }),
    databaseTag: () => undefined,
  };
}

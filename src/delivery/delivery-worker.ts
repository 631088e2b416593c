import type { KeyObject } from 'node:crypto';
import type { Agent } from 'undici';
import type { Config } from '../config.ts';
import type { JobStore, LeasedDelivery } from '../jobs/model.ts';
import { createAddressPolicy } from '../sources/url/address-policy.ts';
import { createPinnedAgent, type ResolveHost } from '../sources/url/pinned-agent.ts';
import { type DeliveryAttemptResult, deliverCallback } from './deliverer.ts';
import { nextCallbackAttempt } from './retry-schedule.ts';
import { generateWebhookSecret } from './signing.ts';

export interface DeliveryLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface CallbackDeliveryWorkerOptions {
  /** Parallel delivery loops (default 4): one slow receiver must not hold up the others. */
  concurrency?: number;
  /** Infrastructure endpoints refused even inside allowCidrs (see AddressPolicyOptions). */
  deniedEndpoints?: readonly string[];
  resolve?: ResolveHost;
  /** Dice for the retry jitter, in [0, 1). */
  random?: () => number;
  /** Signs callbacks of attachmentAV jobs with this RSA key (see attachmentav-signing.ts). */
  attachmentAvKey?: KeyObject;
  /** Observes every recorded attempt (metrics): delivered, retry, failed for good, or error. */
  onAttempt?: (outcome: 'delivered' | 'retry' | 'failed' | 'error') => void;
}

type WorkerConfig = Pick<Config, 'callbacks' | 'network' | 'jobs'>;

/** The secret new tenants get: the operator's configured one, or a fresh random one. */
export function webhookSecretFactory(callbacks: Config['callbacks']): () => string {
  const configured = callbacks.signingSecret;
  return configured ? () => configured : generateWebhookSecret;
}

/**
 * Delivers the callback outbox. Leases one due delivery at a time per loop, POSTs it signed, and
 * records the outcome under the lease token: delivered on 2xx, failed on 410 / refused
 * destination / past callbacks.maxAgeSeconds, otherwise retried with capped exponential backoff.
 * At-least-once: a crash after the receiver's 2xx but before recording it sends the same
 * webhook-id again, which receivers dedupe on.
 */
export class CallbackDeliveryWorker {
  readonly #store: JobStore;
  readonly #config: WorkerConfig;
  readonly #logger: DeliveryLogger | undefined;
  readonly #options: CallbackDeliveryWorkerOptions;
  readonly #createSecret: () => string;
  readonly #inFlight = new Map<string, AbortController>();
  #agent: Agent | undefined;
  #loops: Promise<void>[] = [];
  #stopping = false;
  #wakers = new Set<() => void>();

  constructor(
    store: JobStore,
    config: WorkerConfig,
    logger?: DeliveryLogger,
    options: CallbackDeliveryWorkerOptions = {},
  ) {
    this.#store = store;
    this.#config = config;
    this.#logger = logger;
    this.#options = options;
    this.#createSecret = webhookSecretFactory(config.callbacks);
  }

  /** Lease long enough for one attempt (connect + timeout) with room to record the outcome. */
  get #leaseMs(): number {
    return this.#config.network.connectTimeoutMs + this.#config.callbacks.timeoutMs + 10_000;
  }

  start(): void {
    if (this.#loops.length > 0) return;
    this.#stopping = false;
    this.#agent = createPinnedAgent({
      policy: this.#policy(),
      connectTimeoutMs: this.#config.network.connectTimeoutMs,
      ...(this.#logger ? { logger: this.#logger } : {}),
      ...(this.#options.resolve ? { resolve: this.#options.resolve } : {}),
    });
    const concurrency = this.#options.concurrency ?? 4;
    for (let slot = 0; slot < concurrency; slot++) this.#loops.push(this.#loop());
  }

  /** Looks for due deliveries now instead of at the next poll (a job just finished). */
  wake(): void {
    for (const wake of this.#wakers) wake();
  }

  /**
   * Stops leasing, lets attempts in flight finish for up to graceMs, then aborts the rest and
   * gives their leases back so another worker (or the next start) delivers them at once.
   */
  async stop(graceMs = this.#config.jobs.shutdownGraceMs): Promise<void> {
    this.#stopping = true;
    this.wake();
    const loops = Promise.all(this.#loops);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace_over'>((resolve) => {
      timer = setTimeout(() => resolve('grace_over'), graceMs);
    });
    if ((await Promise.race([loops, graceOver])) === 'grace_over') {
      for (const controller of this.#inFlight.values()) controller.abort();
      await loops;
    }
    clearTimeout(timer);
    this.#loops = [];
    await this.#agent?.destroy().catch(() => {});
    this.#agent = undefined;
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      let leased: LeasedDelivery | undefined;
      try {
        leased = await this.#store.leaseNextDelivery(this.#leaseMs);
      } catch (error) {
        this.#logger?.error({ err: error }, 'could not lease a callback delivery');
      }
      if (leased) await this.#attempt(leased);
      else await this.#idle();
    }
  }

  #idle(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.#config.jobs.pollIntervalMs);
      this.#wakers.add(done);
    });
  }

  async #attempt({ delivery, leaseToken }: LeasedDelivery): Promise<void> {
    const controller = new AbortController();
    this.#inFlight.set(delivery.id, controller);
    const context = { deliveryId: delivery.id, jobId: delivery.jobId, attempt: delivery.attempts };
    try {
      const secret = await this.#store.getOrCreateWebhookSecret(delivery.tenantId, this.#createSecret);
      const attachmentAv = await this.#attachmentAvSigning(delivery);
      const result = await deliverCallback(delivery, secret, {
        ...(attachmentAv ? { attachmentAv } : {}),
        timeoutMs: this.#config.callbacks.timeoutMs,
        connectTimeoutMs: this.#config.network.connectTimeoutMs,
        allowCidrs: this.#config.network.allowCidrs,
        ...(this.#options.deniedEndpoints ? { deniedEndpoints: this.#options.deniedEndpoints } : {}),
        ...(this.#agent ? { agent: this.#agent } : {}),
        ...(this.#logger ? { logger: this.#logger } : {}),
        signal: controller.signal,
      });
      if (controller.signal.aborted) {
        // Shutting down: the attempt was cut short, so it is given back rather than counted.
        await this.#store.releaseDelivery(delivery.id, leaseToken);
        this.#logger?.info(context, 'callback attempt interrupted by shutdown; released');
        return;
      }
      const recorded = await this.#record(delivery, leaseToken, result, context);
      if (!recorded) this.#logger?.warn(context, 'callback lease lost before its outcome was recorded');
    } catch (error) {
      this.#logger?.error({ ...context, err: error }, 'callback delivery failed unexpectedly');
      this.#options.onAttempt?.('error');
      await this.#store.releaseDelivery(delivery.id, leaseToken).catch(() => false);
    } finally {
      this.#inFlight.delete(delivery.id);
    }
  }

  /** The job's dialect decides the extra signature; the job outlives its pending deliveries (retention). */
  async #attachmentAvSigning(
    delivery: LeasedDelivery['delivery'],
  ): Promise<{ privateKey: KeyObject; tenantId: string } | undefined> {
    const privateKey = this.#options.attachmentAvKey;
    if (!privateKey) return undefined;
    const job = await this.#store.getJob(delivery.tenantId, delivery.jobId);
    return job?.dialect === 'attachmentav' ? { privateKey, tenantId: delivery.tenantId } : undefined;
  }

  #record(
    delivery: LeasedDelivery['delivery'],
    leaseToken: string,
    result: DeliveryAttemptResult,
    context: Record<string, unknown>,
  ): Promise<boolean> {
    const log = { ...context, statusCode: result.statusCode, error: result.error };
    if (result.ok) {
      this.#logger?.info(log, 'callback delivered');
      this.#options.onAttempt?.('delivered');
      return this.#store.markDeliveryDelivered(delivery.id, leaseToken, result.statusCode ?? 200);
    }
    const error = result.error ?? 'callback failed';
    if (result.final) {
      this.#logger?.warn(log, 'callback failed for good');
      this.#options.onAttempt?.('failed');
      return this.#store.failDelivery(delivery.id, leaseToken, error, result.statusCode);
    }
    const next = nextCallbackAttempt(
      delivery.createdAt,
      Math.max(delivery.attempts, 1),
      new Date(),
      this.#config.callbacks,
      (this.#options.random ?? Math.random)(),
      result.retryAfterMs,
    );
    if (next.action === 'give_up') {
      this.#logger?.warn({ ...log, reason: next.reason }, 'callback given up');
      this.#options.onAttempt?.('failed');
      return this.#store.failDelivery(delivery.id, leaseToken, `${error}; ${next.reason}`, result.statusCode);
    }
    this.#logger?.info({ ...log, retryAt: next.retryAt }, 'callback attempt failed; will retry');
    this.#options.onAttempt?.('retry');
    return this.#store.retryDelivery(delivery.id, leaseToken, error, result.statusCode, next.retryAt);
  }

  #policy() {
    return createAddressPolicy({
      allowCidrs: this.#config.network.allowCidrs,
      ...(this.#options.deniedEndpoints ? { deniedEndpoints: this.#options.deniedEndpoints } : {}),
    });
  }
}

import type { KeyObject } from 'node:crypto';
import type { Agent } from 'undici';
import type { Config } from '../config.ts';
import { createAddressPolicy } from '../egress/address-policy.ts';
import type { DeniedEndpoints } from '../egress/infrastructure-endpoints.ts';
import { createPinnedAgent, type ResolveHost } from '../egress/pinned-agent.ts';
import { LeaseLoop } from '../lease-loop.ts';
import type { Logger } from '../logger.ts';
import type { ScanEvents } from '../scan-events.ts';
import type { LeasedDelivery, Store } from '../store/contracts.ts';
import { generateWebhookSecret } from '../webhook-signing.ts';
import { type DeliveryAttemptResult, deliverCallback } from './deliverer.ts';
import { nextCallbackAttempt } from './retry-schedule.ts';

export interface CallbackDeliveryWorkerDependencies {
  store: Store;
  config: WorkerConfig;
  logger?: Logger;
  /** Parallel delivery loops (default 4): one slow receiver must not hold up the others. */
  concurrency?: number;
  /** Infrastructure endpoints refused even inside allowCidrs (see AddressPolicyOptions), asked at use. */
  deniedEndpoints?: DeniedEndpoints;
  resolve?: ResolveHost;
  /** Dice for the retry jitter, in [0, 1). */
  random?: () => number;
  /** Told of every recorded attempt (callback:attempt): delivered, retry, failed for good, or error. */
  events?: ScanEvents;
  /** Signs callbacks of attachmentAV jobs with this RSA key (see attachmentav-signing.ts). */
  attachmentAvKey?: KeyObject;
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
  readonly #store: Store;
  readonly #config: WorkerConfig;
  readonly #logger: Logger | undefined;
  readonly #options: CallbackDeliveryWorkerDependencies;
  readonly #createSecret: () => string;
  readonly #inFlight = new Map<string, AbortController>();
  readonly #loop: LeaseLoop<LeasedDelivery>;
  #stopWatching: (() => void) | undefined;
  /** Made at the first attempt, which imports undici (egress/http-client.ts); kept for keep-alive. */
  #agent: Promise<Agent> | undefined;

  constructor(deps: CallbackDeliveryWorkerDependencies) {
    const { store, config, logger } = deps;
    this.#store = store;
    this.#config = config;
    this.#logger = logger;
    this.#options = deps;
    this.#createSecret = webhookSecretFactory(config.callbacks);
    this.#loop = new LeaseLoop({
      concurrency: deps.concurrency ?? 4,
      pollIntervalMs: config.jobs.pollIntervalMs,
      leaseErrorDelayMs: config.jobs.pollIntervalMs,
      lease: async () => {
        const leased = await this.#store.outbox.lease(this.#leaseMs);
        return leased ? [leased] : [];
      },
      handle: (leased) => this.#attempt(leased),
      onLeaseError: (error) => this.#logger?.error({ err: error }, 'could not lease a callback delivery'),
    });
  }

  /** Lease long enough for one attempt (connect + timeout) with room to record the outcome. */
  get #leaseMs(): number {
    return this.#config.network.connectTimeoutMs + this.#config.callbacks.timeoutMs + 10_000;
  }

  start(): void {
    if (this.#stopWatching) return;
    this.#stopWatching = this.#store.watchWork('deliveries', () => this.#loop.wake());
    this.#loop.start();
  }

  /** Looks for due deliveries now instead of at the next poll (a job just finished). */
  wake(): void {
    this.#loop.wake();
  }

  /**
   * Stops leasing, lets attempts in flight finish for up to graceMs, then aborts the rest and
   * gives their leases back so another worker (or the next start) delivers them at once.
   */
  async stop(graceMs = this.#config.jobs.shutdownGraceMs): Promise<void> {
    this.#stopWatching?.();
    this.#stopWatching = undefined;
    await this.#loop.stop(graceMs, () => {
      for (const controller of this.#inFlight.values()) controller.abort();
    });
    const agent = this.#agent;
    this.#agent = undefined;
    await agent?.then((made) => made.destroy()).catch(() => {});
  }

  #pinnedAgent(): Promise<Agent> {
    this.#agent ??= createPinnedAgent({
      policy: this.#policy(),
      connectTimeoutMs: this.#config.network.connectTimeoutMs,
      logger: this.#logger,
      resolve: this.#options.resolve,
    });
    return this.#agent;
  }

  async #attempt({ delivery, leaseToken }: LeasedDelivery): Promise<void> {
    const controller = new AbortController();
    this.#inFlight.set(delivery.id, controller);
    const context = { deliveryId: delivery.id, jobId: delivery.jobId, attempt: delivery.attempts };
    try {
      const secret = await this.#store.keys.webhookSecret(delivery.tenantId, this.#createSecret);
      const attachmentAv = await this.#attachmentAvSigning(delivery);
      const result = await deliverCallback(delivery, secret, {
        attachmentAv,
        timeoutMs: this.#config.callbacks.timeoutMs,
        connectTimeoutMs: this.#config.network.connectTimeoutMs,
        allowCidrs: this.#config.network.allowCidrs,
        deniedEndpoints: this.#options.deniedEndpoints?.(),
        agent: await this.#pinnedAgent(),
        logger: this.#logger,
        signal: controller.signal,
      });
      if (controller.signal.aborted) {
        // Shutting down: the attempt was cut short, so it is given back rather than counted.
        await this.#store.outbox.release(delivery.id, leaseToken);
        this.#logger?.info(context, 'callback attempt interrupted by shutdown; released');
        return;
      }
      const recorded = await this.#record(delivery, leaseToken, result, context);
      if (!recorded) this.#logger?.warn(context, 'callback lease lost before its outcome was recorded');
    } catch (error) {
      this.#logger?.error({ ...context, err: error }, 'callback delivery failed unexpectedly');
      this.#options.events?.emit('callback:attempt', { outcome: 'error' });
      await this.#store.outbox.release(delivery.id, leaseToken).catch(() => false);
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
    const job = await this.#store.jobs.get(delivery.tenantId, delivery.jobId);
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
      this.#options.events?.emit('callback:attempt', { outcome: 'delivered' });
      return this.#store.outbox.markDelivered(delivery.id, leaseToken, result.statusCode ?? 200);
    }
    const error = result.error ?? 'callback failed';
    if (result.final) {
      this.#logger?.warn(log, 'callback failed for good');
      this.#options.events?.emit('callback:attempt', { outcome: 'failed' });
      return this.#store.outbox.fail(delivery.id, leaseToken, error, result.statusCode);
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
      this.#options.events?.emit('callback:attempt', { outcome: 'failed' });
      return this.#store.outbox.fail(delivery.id, leaseToken, `${error}; ${next.reason}`, result.statusCode);
    }
    this.#logger?.info({ ...log, retryAt: next.retryAt }, 'callback attempt failed; will retry');
    this.#options.events?.emit('callback:attempt', { outcome: 'retry' });
    this.#loop.wakeAt(next.retryAt);
    return this.#store.outbox.retry(delivery.id, leaseToken, error, result.statusCode, next.retryAt);
  }

  #policy() {
    return createAddressPolicy({
      allowCidrs: this.#config.network.allowCidrs,
      deniedEndpoints: this.#options.deniedEndpoints?.(),
    });
  }
}

import type { Agent } from 'undici';
import type { AddressPolicy } from '../egress/address-policy.ts';
import { parseDestinationUrl } from '../egress/destination-url.ts';
import { loadHttpClient } from '../egress/http-client.ts';
import { createPinnedAgent } from '../egress/pinned-agent.ts';
import { messageOf, ScanGateError } from '../errors.ts';
import { isTrustedSnsUrl, type SnsMessage, verifySnsSignature } from '../jobs/buckets/sns-message.ts';
import type { Logger } from '../logger.ts';
import type { ScanEvents } from '../scan-events.ts';

export interface SnsSubscriptionsOptions {
  /** `tenant=topic-arn` pairs (BUCKET_SNS_TOPICS): the topics each tenant takes SNS messages from. */
  topics: readonly string[];
  /** URL prefixes trusted beside https://sns.<region>.amazonaws.com/ (BUCKET_SNS_EXTRA_URL_PREFIXES). */
  extraUrlPrefixes: readonly string[];
  /** The SSRF policy every fetch goes through (the same as callbacks and downloads). */
  destinations: () => AddressPolicy;
  timeoutMs?: number;
  logger?: Logger;
  events?: ScanEvents;
}

/** A signing certificate is a few KB; anything much larger is not one. */
const MAX_CERTIFICATE_BYTES = 64 * 1024;
const MAX_CACHED_CERTIFICATES = 32;

/**
 * SNS over HTTP(S): a message is trusted only when its topic is one the tenant configured and its
 * signature verifies with a certificate fetched (through the egress guard) from an SNS URL. A
 * SubscriptionConfirmation is then confirmed by fetching its SubscribeURL, likewise guarded.
 */
export class SnsSubscriptions {
  readonly #options: SnsSubscriptionsOptions;
  readonly #topics = new Map<string, Set<string>>();
  readonly #certificates = new Map<string, string>();
  #agent: { policy: AddressPolicy; agent: Promise<Agent> } | undefined;

  constructor(options: SnsSubscriptionsOptions) {
    this.#options = options;
    for (const pair of options.topics) {
      const separator = pair.indexOf('=');
      const tenant = pair.slice(0, separator);
      const topic = pair.slice(separator + 1);
      if (separator <= 0 || !topic.startsWith('arn:'))
        throw new ScanGateError('invalid_request', `BUCKET_SNS_TOPICS entry "${pair}" is not tenant=arn:…`);
      const topics = this.#topics.get(tenant) ?? new Set<string>();
      topics.add(topic);
      this.#topics.set(tenant, topics);
    }
  }

  /** Whether the tenant named any topic: its SNS notifications must then be signed and from those topics. */
  hasTopics(tenantId: string): boolean {
    return (this.#topics.get(tenantId)?.size ?? 0) > 0;
  }

  /** Throws unless the message is from one of the tenant's topics and its signature verifies. */
  async verify(tenantId: string, message: SnsMessage): Promise<void> {
    if (!this.#topics.get(tenantId)?.has(message.TopicArn)) {
      throw new ScanGateError(
        'sns_topic_not_allowed',
        `SNS topic ${message.TopicArn} is not one of this tenant's topics (BUCKET_SNS_TOPICS)`,
      );
    }
    const certificate = await this.#certificate(message.SigningCertURL);
    if (!verifySnsSignature(message, certificate)) {
      throw new ScanGateError('sns_signature_invalid', 'the SNS message signature does not verify');
    }
  }

  /** Verifies a signed Notification; a refusal counts as a refused notification delivery. */
  async verifyNotification(tenantId: string, message: SnsMessage): Promise<void> {
    try {
      await this.verify(tenantId, message);
    } catch (error) {
      this.#options.logger?.warn(
        { tenantId, topicArn: message.TopicArn, reason: messageOf(error) },
        'SNS notification refused',
      );
      this.#options.events?.emit('bucket:notification', { outcome: 'refused' });
      throw error;
    }
  }

  /** Verifies a SubscriptionConfirmation and fetches its SubscribeURL; answers the topic confirmed. */
  async confirm(tenantId: string, message: SnsMessage): Promise<string> {
    const { logger, events } = this.#options;
    try {
      await this.verify(tenantId, message);
      const subscribeUrl = message.SubscribeURL!;
      if (!isTrustedSnsUrl(subscribeUrl, this.#options.extraUrlPrefixes)) {
        throw new ScanGateError('sns_signature_invalid', 'the SubscribeURL is not an SNS URL');
      }
      const response = await this.#fetch(subscribeUrl, 'SubscribeURL');
      await response.body.dump();
      if (response.statusCode !== 200) {
        throw new ScanGateError(
          'download_failed',
          `SNS answered ${response.statusCode} to the SubscribeURL`,
          {
            retryable: true,
          },
        );
      }
    } catch (error) {
      logger?.warn(
        { tenantId, topicArn: message.TopicArn, reason: messageOf(error) },
        'SNS subscription refused',
      );
      events?.emit('bucket:subscription', { outcome: 'refused' });
      throw error;
    }
    logger?.info({ tenantId, topicArn: message.TopicArn }, 'SNS subscription confirmed');
    events?.emit('bucket:subscription', { outcome: 'confirmed' });
    return message.TopicArn;
  }

  async #certificate(url: string): Promise<string> {
    const cached = this.#certificates.get(url);
    if (cached) return cached;
    if (!isTrustedSnsUrl(url, this.#options.extraUrlPrefixes)) {
      throw new ScanGateError('sns_signature_invalid', `SigningCertURL ${url} is not an https SNS URL`);
    }
    const response = await this.#fetch(url, 'SigningCertURL');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_CERTIFICATE_BYTES) {
        response.body.destroy();
        throw new ScanGateError('sns_signature_invalid', 'the SNS signing certificate is too large');
      }
      chunks.push(chunk as Buffer);
    }
    if (response.statusCode !== 200) {
      throw new ScanGateError(
        'download_failed',
        `fetching the SNS signing certificate: HTTP ${response.statusCode}`,
        {
          retryable: true,
        },
      );
    }
    const pem = Buffer.concat(chunks).toString('utf8');
    if (this.#certificates.size >= MAX_CACHED_CERTIFICATES) this.#certificates.clear();
    this.#certificates.set(url, pem);
    return pem;
  }

  /** The pinned agent for the current policy (rebuilt only when the policy object is replaced). */
  #agentFor(policy: AddressPolicy): Promise<Agent> {
    if (this.#agent?.policy !== policy) {
      void this.#agent?.agent.then((previous) => previous.close()).catch(() => {});
      const agent = createPinnedAgent({
        policy,
        connectTimeoutMs: this.#options.timeoutMs ?? 10_000,
        logger: this.#options.logger,
      });
      this.#agent = { policy, agent };
    }
    return this.#agent.agent;
  }

  async close(): Promise<void> {
    const agent = this.#agent?.agent;
    this.#agent = undefined;
    await (await agent)?.close();
  }

  /** One GET through the pinned agent (redirects not followed): the SSRF policy applies to SNS URLs too. */
  async #fetch(raw: string, field: string) {
    const policy = this.#options.destinations();
    const url = parseDestinationUrl(raw, policy, field);
    const timeoutMs = this.#options.timeoutMs ?? 10_000;
    try {
      const { request } = await loadHttpClient();
      return await request(url, {
        dispatcher: await this.#agentFor(policy),
        method: 'GET',
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      if (error instanceof ScanGateError) throw error;
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof ScanGateError) throw cause;
      throw new ScanGateError('download_failed', `fetching the SNS ${field} failed: ${messageOf(error)}`, {
        retryable: true,
        cause: error,
      });
    }
  }
}

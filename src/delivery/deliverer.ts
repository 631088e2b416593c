import type { KeyObject } from 'node:crypto';
import type { Agent } from 'undici';
import { attachmentAvHeaders } from '../attachmentav-signing.ts';
import { createAddressPolicy } from '../egress/address-policy.ts';
import { parseDestinationUrl } from '../egress/destination-url.ts';
import { validateCallbackHeaders } from '../egress/header-rules.ts';
import { loadHttpClient } from '../egress/http-client.ts';
import { createPinnedAgent, type ResolveHost } from '../egress/pinned-agent.ts';
import { parseRetryAfter } from '../egress/retry-after.ts';
import { isScanGateError, messageOf } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { NewCallbackDelivery } from '../scan.ts';
import { webhookHeaders } from '../webhook-signing.ts';

export interface DeliveryAttemptOptions {
  /** One attempt, connect to last response byte (config.callbacks.timeoutMs). */
  timeoutMs: number;
  connectTimeoutMs: number;
  allowCidrs: readonly string[];
  deniedEndpoints?: readonly string[];
  /** A pinned agent built for the same policy, reused across attempts; one is made per call otherwise. */
  agent?: Agent;
  signal?: AbortSignal;
  logger?: Logger;
  resolve?: ResolveHost;
  nowSeconds?: number;
  /** Also sign the attachmentAV way (x-timestamp, x-signature), for jobs of that dialect. */
  attachmentAv?: { privateKey: KeyObject; tenantId: string };
}

export interface DeliveryAttemptResult {
  /** The receiver answered 2xx. */
  ok: boolean;
  /** No attempt can succeed: 410 Gone, or a destination or header the policy refuses. */
  final: boolean;
  statusCode?: number;
  error?: string;
  /** The receiver's Retry-After, in milliseconds. */
  retryAfterMs?: number;
}

const USER_AGENT = 'scangate';
/** Receivers' answers are read this far and dropped: we only need the status. */
const RESPONSE_DISCARD_BYTES = 64 * 1024;

/**
 * One signed POST of a callback. Never follows redirects (Standard Webhooks: a 3xx is a failed
 * attempt), dials only addresses the SSRF policy allows — checked again on every attempt, since
 * the name may resolve differently now — and re-validates the stored client headers.
 */
export async function deliverCallback(
  delivery: Pick<NewCallbackDelivery, 'id' | 'url' | 'headers' | 'body'>,
  secret: string,
  options: DeliveryAttemptOptions,
): Promise<DeliveryAttemptResult> {
  const policy = createAddressPolicy({
    allowCidrs: options.allowCidrs,
    deniedEndpoints: options.deniedEndpoints,
  });
  let url: URL;
  let clientHeaders: Record<string, string>;
  try {
    url = parseDestinationUrl(delivery.url, policy, 'callback_url');
    clientHeaders = validateCallbackHeaders(delivery.headers);
  } catch (error) {
    options.logger?.warn({ deliveryId: delivery.id, reason: messageOf(error) }, 'callback refused');
    return { ok: false, final: true, error: messageOf(error) };
  }
  const { request } = await loadHttpClient();
  const agent =
    options.agent ??
    (await createPinnedAgent({
      policy,
      connectTimeoutMs: options.connectTimeoutMs,
      logger: options.logger,
      resolve: options.resolve,
    }));
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    const response = await request(url, {
      dispatcher: agent,
      method: 'POST',
      headers: {
        ...clientHeaders,
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        ...webhookHeaders(secret, delivery.id, delivery.body, options.nowSeconds),
        ...(options.attachmentAv
          ? attachmentAvHeaders(
              options.attachmentAv.privateKey,
              options.attachmentAv.tenantId,
              delivery.url,
              delivery.body,
              options.nowSeconds,
            )
          : {}),
      },
      body: delivery.body,
      signal,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    await response.body.dump({ limit: RESPONSE_DISCARD_BYTES }).catch(() => {});
    return attemptResult(response.statusCode, response.headers['retry-after']);
  } catch (error) {
    if (isScanGateError(error) && error.code === 'blocked_destination') {
      return { ok: false, final: true, error: error.message };
    }
    const message = timeout.aborted
      ? `no answer within ${options.timeoutMs} ms`
      : error instanceof Error
        ? error.message
        : String(error);
    return { ok: false, final: false, error: message };
  } finally {
    if (!options.agent) await agent.destroy().catch(() => {});
  }
}

/** What a receiver's status means for this delivery. Pure. */
export function attemptResult(statusCode: number, retryAfter?: string | string[]): DeliveryAttemptResult {
  if (statusCode >= 200 && statusCode <= 299) return { ok: true, final: false, statusCode };
  const result: DeliveryAttemptResult = {
    ok: false,
    // 410 Gone: the receiver asks us to stop (Standard Webhooks).
    final: statusCode === 410,
    statusCode,
    error:
      statusCode >= 300 && statusCode <= 399
        ? `receiver answered HTTP ${statusCode} (redirects are not followed)`
        : `receiver answered HTTP ${statusCode}`,
  };
  const retryAfterMs = parseRetryAfter(retryAfter);
  if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
  return result;
}

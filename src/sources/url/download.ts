import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { type AddressPolicy, createAddressPolicy } from '../../egress/address-policy.ts';
import { parseDestinationUrl } from '../../egress/destination-url.ts';
import { validateDownloadHeaders } from '../../egress/header-rules.ts';
import { loadHttpClient } from '../../egress/http-client.ts';
import { createPinnedAgent, type ResolveHost } from '../../egress/pinned-agent.ts';
import { parseRetryAfter } from '../../egress/retry-after.ts';
import { isScanGateError, ScanGateError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { decodeContent, parseContentEncoding } from '../content-encoding.ts';
import type { OpenedSource } from '../source.ts';
import { ThroughputFloor } from './throughput-floor.ts';

export interface UrlDownloadOptions {
  /** More bytes than this fail the stream with size_limit (config.limits.maxFileSizeBytes). */
  maxBytes: number;
  connectTimeoutMs: number;
  /** Longest wait for the response headers of each hop. */
  headersTimeoutMs: number;
  /** Longest silence between two body chunks. */
  bodyIdleTimeoutMs: number;
  /** Deadline for the whole download, redirects and body included. */
  downloadTimeoutMs: number;
  /** Slowest average body rate accepted over each window (0 = no floor); see ThroughputFloor. */
  minBytesPerSecond?: number;
  minRateWindowMs?: number;
  maxRedirects: number;
  /** config.network.allowCidrs. */
  allowCidrs: readonly string[];
  /** Infrastructure endpoints refused even inside allowCidrs (see AddressPolicyOptions). */
  deniedEndpoints?: readonly string[];
  signal?: AbortSignal;
  logger?: Logger | undefined;
  /** Name resolution override (tests). */
  resolve?: ResolveHost;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Error-response bodies are read this far (to keep the connection) and dropped. */
const DISCARD_LIMIT_BYTES = 64 * 1024;

/**
 * Opens a URL as a byte stream, SSRF-safe: every hop dials only addresses the policy allows
 * (pinned-agent.ts). The body is streamed as it arrives, never buffered whole; a Content-Encoding
 * the server applied anyway is undone (content-encoding.ts). It fails with size_limit past
 * maxBytes (wire or decoded bytes) and with a retryable download_failed when it ends before its
 * Content-Length.
 */
export async function openUrlDownload(
  url: string,
  headers: Record<string, string>,
  options: UrlDownloadOptions,
): Promise<OpenedSource> {
  const policy = createAddressPolicy({
    allowCidrs: options.allowCidrs,
    deniedEndpoints: options.deniedEndpoints,
  });
  let current = parseDestinationUrl(url, policy, 'download_url');
  let hopHeaders = validateDownloadHeaders(headers);
  const { request } = await loadHttpClient();
  const agent = await createPinnedAgent({
    policy,
    connectTimeoutMs: options.connectTimeoutMs,
    logger: options.logger,
    resolve: options.resolve,
  });
  const deadline = new AbortController();
  const timer = setTimeout(
    () =>
      deadline.abort(
        // Final: the same server would hold a worker for the whole deadline again.
        new ScanGateError('download_timeout', `download took longer than ${options.downloadTimeoutMs} ms`),
      ),
    options.downloadTimeoutMs,
  );
  const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
  let released = false;
  let rateTimer: NodeJS.Timeout | undefined;
  const release = (): void => {
    if (released) return;
    released = true;
    clearTimeout(timer);
    clearInterval(rateTimer);
    agent.destroy().catch(() => {});
  };
  const mapError = (error: unknown): ScanGateError => downloadError(error, deadline.signal, options.signal);

  try {
    for (let redirects = 0; ; redirects++) {
      const response = await request(current, {
        dispatcher: agent,
        method: 'GET',
        // identity: ask for the bytes as stored. A server that encodes anyway is decoded with the
        // size limit applied to the decoded bytes (content-encoding.ts).
        headers: { ...hopHeaders, 'accept-encoding': 'identity' },
        signal,
        headersTimeout: options.headersTimeoutMs,
        bodyTimeout: options.bodyIdleTimeoutMs,
      });
      const { statusCode } = response;
      if (REDIRECT_STATUSES.has(statusCode)) {
        await discard(response.body);
        if (redirects >= options.maxRedirects) {
          throw new ScanGateError('download_failed', `more than ${options.maxRedirects} redirects`);
        }
        const next = nextHop(current, response.headers.location, policy);
        // Client headers often carry credentials meant for the first origin only.
        if (next.origin !== current.origin) hopHeaders = {};
        current = next;
        continue;
      }
      if (statusCode < 200 || statusCode > 299 || statusCode === 206) {
        await discard(response.body);
        throw statusError(statusCode, current, response.headers['retry-after']);
      }
      const declaredSize = contentLength(response.headers['content-length']);
      if (declaredSize !== undefined && declaredSize > options.maxBytes) {
        response.body.destroy();
        throw new ScanGateError(
          'size_limit',
          `Content-Length ${declaredSize} exceeds the limit of ${options.maxBytes} bytes`,
          { details: { declaredSize, maxBytes: options.maxBytes } },
        );
      }
      // Checked before reading: bytes in a coding we cannot undo are unscannable, not scanned encoded.
      const codings = parseContentEncoding(response.headers['content-encoding']);
      // Readable.from pulls from the generator only as the consumer reads: backpressure reaches
      // the socket, and errors leave here already mapped to ScanGateError codes.
      const floor = watchThroughput(options, deadline);
      rateTimer = floor?.timer;
      const body = Readable.from(
        limitedBody(response.body, declaredSize, options.maxBytes, mapError, floor?.floor),
        { objectMode: false },
      );
      // A server that ignores `accept-encoding: identity`: scan what it encoded, not the encoding.
      const stream = codings.length > 0 ? decodeContent(body, codings, options.maxBytes) : body;
      stream.once('close', release);
      if (codings.length > 0) body.once('close', release);
      return declaredSize === undefined || codings.length > 0 ? { stream } : { stream, declaredSize };
    }
  } catch (error) {
    release();
    throw mapError(error);
  }
}

async function* limitedBody(
  body: Dispatcher.ResponseData['body'],
  declaredSize: number | undefined,
  maxBytes: number,
  mapError: (error: unknown) => ScanGateError,
  floor?: ThroughputFloor,
): AsyncGenerator<Buffer> {
  let received = 0;
  try {
    // Leaving this loop early (limit, consumer gone) destroys the body and with it the connection.
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received += chunk.length;
      floor?.record(chunk.length, performance.now());
      if (received > maxBytes) {
        throw new ScanGateError('size_limit', `download exceeds the limit of ${maxBytes} bytes`, {
          details: { maxBytes },
        });
      }
      yield chunk;
    }
  } catch (error) {
    throw mapError(error);
  }
  if (declaredSize !== undefined && received !== declaredSize) {
    throw new ScanGateError(
      'download_failed',
      `body ended after ${received} of ${declaredSize} bytes announced by Content-Length`,
      { retryable: true },
    );
  }
}

/**
 * Checks the body's rate against the floor every 1/8 of its window (a trickle sends no chunk to
 * check on) and aborts the download with a final download_timeout when it is too slow: the same
 * server would be as slow on the next attempt, so retrying only burns workers.
 */
function watchThroughput(
  options: UrlDownloadOptions,
  deadline: AbortController,
): { floor: ThroughputFloor; timer: NodeJS.Timeout } | undefined {
  const { minBytesPerSecond = 0, minRateWindowMs = 30_000 } = options;
  if (minBytesPerSecond <= 0) return undefined;
  const floor = new ThroughputFloor(minBytesPerSecond, minRateWindowMs, performance.now());
  const timer = setInterval(
    () => {
      const rate = floor.tooSlow(performance.now());
      if (rate === undefined) return;
      deadline.abort(
        new ScanGateError(
          'download_timeout',
          `download slower than ${minBytesPerSecond} bytes/s over ${minRateWindowMs} ms (${Math.round(rate)} bytes/s)`,
          { details: { bytesPerSecond: Math.round(rate), minBytesPerSecond } },
        ),
      );
    },
    Math.max(Math.floor(minRateWindowMs / 8), 10),
  );
  timer.unref();
  return { floor, timer };
}

function nextHop(current: URL, location: string | string[] | undefined, policy: AddressPolicy): URL {
  if (typeof location !== 'string' || location === '') {
    throw new ScanGateError('download_failed', 'redirect without a Location header');
  }
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    throw new ScanGateError('download_failed', 'redirect to an invalid URL');
  }
  if (current.protocol === 'https:' && next.protocol === 'http:') {
    throw new ScanGateError('blocked_destination', 'redirect from https to http refused');
  }
  try {
    return parseDestinationUrl(next.href, policy, 'redirect location');
  } catch (error) {
    // A hop to file:, gopher: or user@host is a refused destination, not a client mistake.
    if (isScanGateError(error) && error.code === 'invalid_request') {
      throw new ScanGateError('blocked_destination', error.message);
    }
    throw error;
  }
}

function statusError(statusCode: number, url: URL, retryAfter: string | string[] | undefined): ScanGateError {
  // Server trouble and throttling may pass; any other refusal will answer the same next time.
  const retryable = statusCode >= 500 || statusCode === 408 || statusCode === 429;
  const details: Record<string, unknown> = { statusCode, host: url.host };
  const retryAfterMs = parseRetryAfter(retryAfter);
  if (retryAfterMs !== undefined) details.retryAfterMs = retryAfterMs;
  return new ScanGateError('download_failed', `${url.host} answered HTTP ${statusCode}`, {
    retryable,
    details,
  });
}

function contentLength(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

async function discard(body: Dispatcher.ResponseData['body']): Promise<void> {
  await body.dump({ limit: DISCARD_LIMIT_BYTES }).catch(() => {});
}

/** Maps whatever a download threw to the stable codes the worker turns into verdicts. */
function downloadError(
  error: unknown,
  deadline: AbortSignal,
  callerSignal: AbortSignal | undefined,
): ScanGateError {
  // A stored URL or header that no longer passes validation will not pass next time either.
  if (isScanGateError(error) && error.code === 'invalid_request') {
    return new ScanGateError('download_failed', error.message, { cause: error });
  }
  if (isScanGateError(error)) return error;
  if (deadline.aborted && isScanGateError(deadline.reason)) return deadline.reason;
  if (callerSignal?.aborted) {
    return new ScanGateError('download_failed', 'download aborted', { retryable: true, cause: error });
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return new ScanGateError('download_timeout', `download timed out: ${message}`, {
      retryable: true,
      cause: error,
    });
  }
  // Resets, refused connections, DNS failures, malformed responses: the network may heal.
  return new ScanGateError('download_failed', `download failed: ${message}`, {
    retryable: true,
    cause: error,
  });
}

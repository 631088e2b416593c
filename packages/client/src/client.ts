import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorFromResponse, ScangateApiError } from './errors.ts';
import { countingBytes, type MultipartFilePart, multipartBody, slices } from './multipart.ts';
import type {
  ContentPolicyInput,
  ContentPolicyView,
  NativeScan,
  S3ObjectRef,
  ScanFileOptions,
  ScanStats,
  ScanStatus,
  ScanUrlOptions,
  SubmitOptions,
  WaitOptions,
} from './types.ts';

export interface ScangateClientOptions {
  /** e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  apiKey: string;
  /** Extra headers on every request (a proxy's auth, a tracing header). */
  headers?: Record<string, string>;
}

/** A file to scan: a path on disk, a byte buffer, or a readable stream. */
export type ScanInput = string | Uint8Array | Readable | AsyncIterable<Uint8Array>;

interface RequestOptions {
  method?: string;
  body?: string | AsyncIterable<Uint8Array>;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/** The async submission fields shared by the URL and S3 routes (snake_case on the wire). */
function submitFields(options: SubmitOptions): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (options.traceId !== undefined) fields.trace_id = options.traceId;
  if (options.callbackUrl !== undefined) fields.callback_url = options.callbackUrl;
  if (options.callbackHeaders !== undefined) fields.callback_headers = options.callbackHeaders;
  if (options.customData !== undefined) fields.custom_data = options.customData;
  if (options.policy !== undefined) fields.policy = options.policy;
  return fields;
}

/**
 * A typed client for scangate's native API. Uploads are streamed (a multi-gigabyte file never sits
 * in memory); every failure is a ScangateApiError carrying the HTTP status and scangate's code.
 */
export class ScangateClient {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #headers: Record<string, string>;

  constructor(options: ScangateClientOptions) {
    if (!options.apiKey) throw new TypeError('apiKey is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#headers = options.headers ?? {};
  }

  /** Uploads a file for scanning; resolves with the pending scan once the upload is stored. */
  async scanFile(input: ScanInput, options: ScanFileOptions = {}): Promise<NativeScan> {
    const file = await this.#filePart(input, options);
    const fields: Record<string, string> = {};
    if (options.traceId !== undefined) fields.trace_id = options.traceId;
    if (options.callbackUrl !== undefined) fields.callback_url = options.callbackUrl;
    if (options.customData !== undefined) fields.custom_data = options.customData;
    if (options.policy !== undefined)
      fields.policy = typeof options.policy === 'string' ? options.policy : JSON.stringify(options.policy);
    const encoded = multipartBody(fields, file);
    const headers: Record<string, string> = { 'content-type': encoded.contentType };
    if (encoded.length !== undefined) headers['content-length'] = String(encoded.length);
    return this.#json<NativeScan>('/v1/scans/file', {
      method: 'POST',
      body: encoded.body,
      headers,
      signal: options.signal,
    });
  }

  /** Asks scangate to download a URL and scan it. */
  scanUrl(url: string, options: ScanUrlOptions = {}): Promise<NativeScan> {
    const body: Record<string, unknown> = { url, ...submitFields(options) };
    if (options.headers) body.headers = options.headers;
    return this.#postJson('/v1/scans/url', body, options.signal);
  }

  /** Asks scangate to read an S3 object (with its own credentials) and scan it. */
  scanS3(object: S3ObjectRef, options: SubmitOptions = {}): Promise<NativeScan> {
    const body: Record<string, unknown> = {
      bucket: object.bucket,
      key: object.key,
      ...submitFields(options),
    };
    if (object.version !== undefined) body.version = object.version;
    return this.#postJson('/v1/scans/s3', body, options.signal);
  }

  /** The scan as it stands now (status `pending` until a verdict is stored). */
  getResult(id: string, options: { signal?: AbortSignal } = {}): Promise<NativeScan> {
    return this.#json<NativeScan>(`/v1/scans/${encodeURIComponent(id)}`, { signal: options.signal });
  }

  /** Polls until the scan has a verdict; throws ScangateApiError `timeout` after timeoutMs. */
  async waitForResult(id: string, options: WaitOptions = {}): Promise<NativeScan> {
    const timeoutMs = options.timeoutMs ?? 10 * 60_000;
    const maxInterval = options.intervalMs ?? 1000;
    const deadline = Date.now() + timeoutMs;
    // Small files finish in milliseconds: start polling fast, then back off to the interval.
    let interval = Math.min(100, maxInterval);
    for (;;) {
      const scan = await this.getResult(id, options.signal ? { signal: options.signal } : {});
      if (scan.status !== 'pending') return scan;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new ScangateApiError(0, 'timeout', `scan ${id} still pending after ${timeoutMs} ms`);
      }
      await sleep(Math.min(interval, remaining), undefined, options.signal ? { signal: options.signal } : {});
      interval = Math.min(interval * 2, maxInterval);
    }
  }

  /** Recent scans of this key's tenant, newest first. */
  async listScans(
    options: { status?: ScanStatus; limit?: number; before?: string; signal?: AbortSignal } = {},
  ): Promise<NativeScan[]> {
    const query = new URLSearchParams();
    if (options.status) query.set('status', options.status);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.before) query.set('before', options.before);
    const suffix = query.size > 0 ? `?${query}` : '';
    const body = await this.#json<{ scans: NativeScan[] }>(`/v1/scans${suffix}`, { signal: options.signal });
    return body.scans;
  }

  /** Verdict counts per time bucket over the last `hours`. */
  getStats(hours = 24): Promise<ScanStats> {
    return this.#json<ScanStats>(`/v1/stats?hours=${hours}`, {});
  }

  /** The tenant's content policy (what is blocked besides malware). */
  getPolicy(): Promise<ContentPolicyView & { default: boolean }> {
    return this.#json('/v1/policy', {});
  }

  /** Replaces the tenant's content policy; scans submitted afterwards use it. */
  setPolicy(policy: ContentPolicyInput): Promise<ContentPolicyView & { default: boolean }> {
    return this.#json('/v1/policy', {
      method: 'PUT',
      body: JSON.stringify(policy),
      headers: { 'content-type': 'application/json' },
    });
  }

  /** The `whsec_…` secret that signs this tenant's callbacks (for verifyCallbackSignature). */
  async getWebhookSecret(): Promise<string> {
    return (await this.#json<{ secret: string }>('/v1/webhook-secret', {})).secret;
  }

  async #filePart(input: ScanInput, options: ScanFileOptions): Promise<MultipartFilePart> {
    let content: AsyncIterable<Uint8Array>;
    let size = options.size;
    let filename = options.filename;
    if (typeof input === 'string') {
      const info = await stat(input).catch((error: unknown) => {
        throw new ScangateApiError(
          0,
          'file_unreadable',
          `cannot read ${input}: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      });
      if (!info.isFile()) throw new ScangateApiError(0, 'file_unreadable', `${input} is not a regular file`);
      content = createReadStream(input, { highWaterMark: 256 * 1024 });
      size = info.size;
      filename ??= path.basename(input);
    } else if (input instanceof Uint8Array) {
      content = slices(input);
      size = input.byteLength;
    } else {
      content = input;
    }
    if (options.onProgress) {
      const onProgress = options.onProgress;
      const total = size;
      content = countingBytes(content, (sent) => onProgress(sent, total));
    }
    const part: MultipartFilePart = {
      field: 'file',
      filename: filename ?? 'upload.bin',
      contentType: options.contentType ?? 'application/octet-stream',
      content,
    };
    if (size !== undefined) part.size = size;
    return part;
  }

  #postJson(route: string, body: unknown, signal: AbortSignal | undefined): Promise<NativeScan> {
    return this.#json<NativeScan>(route, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      signal,
    });
  }

  async #json<T>(route: string, request: RequestOptions): Promise<T> {
    const init: RequestInit & { duplex?: 'half' } = {
      method: request.method ?? 'GET',
      headers: { ...this.#headers, ...request.headers, authorization: `Bearer ${this.#apiKey}` },
    };
    if (request.signal) init.signal = request.signal;
    if (typeof request.body === 'string') init.body = request.body;
    else if (request.body) {
      // A streamed body: fetch pulls it chunk by chunk as the socket drains.
      init.body = request.body;
      init.duplex = 'half';
    }
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${route}`, init);
    } catch (error) {
      if (request.signal?.aborted) throw error;
      const cause = (error as { cause?: { message?: string } }).cause;
      throw new ScangateApiError(
        0,
        'connection_failed',
        `cannot reach scangate at ${this.baseUrl}: ${cause?.message ?? (error as Error).message}`,
        { cause: error },
      );
    }
    if (!response.ok) throw await errorFromResponse(response);
    try {
      return (await response.json()) as T;
    } catch (error) {
      throw new ScangateApiError(response.status, 'unexpected_response', 'the response is not JSON', {
        cause: error,
      });
    }
  }
}

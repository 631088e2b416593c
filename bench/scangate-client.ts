import { Readable } from 'node:stream';
import { Pool } from 'undici';
import type { Payload } from './data.ts';

const BOUNDARY = '----scangate-bench-boundary-7d3f9a';

export interface NativeScanView {
  id: string;
  status: string;
  reason: string | null;
  detail: string | null;
  size: number | null;
  cached: boolean;
  /** Seconds. */
  download_time: number | null;
  /** Seconds. */
  scan_time: number | null;
  attempts: number;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
}

function isAsyncIterable(body: Buffer | AsyncIterable<Buffer> | string): body is AsyncIterable<Buffer> {
  return typeof body === 'object' && Symbol.asyncIterator in body;
}

/** The bench's HTTP client of scangate: keep-alive connections, one request per file. */
export class ScangateClient {
  readonly #pool: Pool;
  readonly #auth: Record<string, string>;

  constructor(url: string, apiKey: string, connections: number) {
    this.#pool = new Pool(url, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: 900_000,
      bodyTimeout: 900_000,
    });
    this.#auth = { authorization: `Bearer ${apiKey}` };
  }

  async #json<T>(
    method: 'GET' | 'POST',
    path: string,
    expected: number,
    body?: Buffer | AsyncIterable<Buffer> | string,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const response = await this.#pool.request({
      method,
      path,
      headers: { ...this.#auth, ...headers },
      // undici takes a Readable, not a bare async iterable; Readable.from keeps the backpressure.
      ...(body === undefined ? {} : { body: isAsyncIterable(body) ? Readable.from(body) : body }),
    });
    const text = await response.body.text();
    if (response.statusCode !== expected)
      throw new Error(`${method} ${path}: HTTP ${response.statusCode} ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** bucketAV sync binary: the verdict in the response. */
  async scanSync(
    payload: Payload,
    headers: Record<string, string> = {},
  ): Promise<{ status: string; size?: number }> {
    return this.#json('POST', '/api/v1/scan/sync/binary', 200, payload.buffer ?? payload.chunks(), {
      'content-type': 'application/octet-stream',
      'content-length': String(payload.size),
      ...headers,
    });
  }

  /** Native upload (multipart field "file"): answers once the upload is staged and queued. */
  async submitUpload(payload: Payload, filename = 'file.bin'): Promise<NativeScanView> {
    const head = Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    );
    const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
    const body = payload.buffer
      ? Buffer.concat([head, payload.buffer, tail])
      : (async function* () {
          yield head;
          yield* payload.chunks();
          yield tail;
        })();
    return this.#json('POST', '/v1/scans/file', 202, body, {
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      'content-length': String(head.length + payload.size + tail.length),
    });
  }

  /** bucketAV async download without callback: 201 once queued. */
  async submitDownload(downloadUrl: string, traceId: string): Promise<void> {
    await this.#json(
      'POST',
      '/api/v1/scan/async/download',
      201,
      JSON.stringify({ download_url: downloadUrl, trace_id: traceId }),
      { 'content-type': 'application/json' },
    );
  }

  /** Native URL job: 202 with the scan id. */
  async submitUrl(url: string): Promise<NativeScanView> {
    return this.#json('POST', '/v1/scans/url', 202, JSON.stringify({ url }), {
      'content-type': 'application/json',
    });
  }

  async syncDownload(downloadUrl: string): Promise<{ status: string; size?: number }> {
    return this.#json(
      'POST',
      '/api/v1/scan/sync/download',
      200,
      JSON.stringify({ download_url: downloadUrl }),
      { 'content-type': 'application/json' },
    );
  }

  getScan(id: string): Promise<NativeScanView> {
    return this.#json('GET', `/v1/scans/${encodeURIComponent(id)}`, 200);
  }

  /** Newest first; `before` pages back. */
  listScans(options: {
    status?: string;
    limit: number;
    before?: string;
  }): Promise<{ scans: NativeScanView[] }> {
    const query = new URLSearchParams({ limit: String(options.limit) });
    if (options.status) query.set('status', options.status);
    if (options.before) query.set('before', options.before);
    return this.#json('GET', `/v1/scans?${query}`, 200);
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

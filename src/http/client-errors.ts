import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { ErrorCode } from '../errors.ts';

/**
 * Required, not imported: an ES import of node:http builds its module namespace by reading every
 * export, and reading `http.WebSocket` loads Node's bundled undici (17 MiB of RSS in a bare Node 24,
 * measured) in a service that may never open a WebSocket or call fetch.
 */
const { STATUS_CODES } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

/** What Node's HTTP parser refused, before any route ran, as our stable codes. */
export function clientErrorAnswer(error: NodeJS.ErrnoException): {
  status: number;
  code: ErrorCode;
  message: string;
} {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'the request was not received in time' };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'headers_too_large', message: 'the request headers are too large' };
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return {
        status: 400,
        code: 'invalid_request',
        message: 'Content-Length and Transfer-Encoding together are refused (request smuggling)',
      };
    default:
      return { status: 400, code: 'invalid_request', message: 'malformed HTTP request' };
  }
}

/**
 * Answers a request Node's parser refused (bad framing, Content-Length with Transfer-Encoding,
 * oversized headers, timeouts) with the same `{code, message}` body as every other refusal, then
 * closes the connection: after a framing error the rest of the stream cannot be trusted.
 */
export function clientErrorHandler(this: { log: FastifyBaseLogger }, error: Error, socket: Socket): void {
  const errno = error as NodeJS.ErrnoException;
  if (errno.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, code, message } = clientErrorAnswer(errno);
  const body = JSON.stringify({ code, message });
  this.log.info({ code, parserError: errno.code }, 'request refused by the HTTP parser');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

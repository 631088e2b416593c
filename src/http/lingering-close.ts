import type { IncomingMessage } from 'node:http';

export interface LingerLimits {
  /** Body bytes still read and dropped after a refusal before the connection is closed. */
  maxBytes: number;
  /** How long the rest of the body may take before the connection is closed. */
  maxMs: number;
}

export const DEFAULT_LINGER: LingerLimits = { maxBytes: 4 * 1024 * 1024, maxMs: 5_000 };

/**
 * A refusal sent before the client finished its body (a second file, 413, clamd down) must still
 * reach the client. Closing the socket with unread bytes makes the kernel answer them with a reset,
 * and the client's next write fails (EPIPE) before it has read the answer: on loopback that race is
 * lost often enough to fail a real client. So, as nginx's lingering close does, the rest of the body
 * is read and dropped, and the connection is closed only when the client keeps sending past a bound.
 * A body that ends in time leaves the connection open for the next request.
 */
export function lingerOnRefusal(request: IncomingMessage, limits: LingerLimits = DEFAULT_LINGER): void {
  // HTTP/2 resets the one stream instead; a finished body has nothing left to read.
  if (request.httpVersionMajor >= 2 || request.complete || request.destroyed) return;
  let read = 0;
  const stop = () => {
    clearTimeout(timer);
    request.off('data', count);
    request.off('end', stop);
    request.off('close', stop);
  };
  const close = () => {
    stop();
    request.socket.destroy();
  };
  const count = (chunk: Buffer) => {
    read += chunk.length;
    if (read > limits.maxBytes) close();
  };
  const timer = setTimeout(close, limits.maxMs);
  timer.unref();
  request.on('data', count);
  request.once('end', stop);
  request.once('close', stop);
  request.resume();
}

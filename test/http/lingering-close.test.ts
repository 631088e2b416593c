import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_LINGER } from '../../src/http/lingering-close.ts';
import { KEY_A, startTestService, type TestService } from '../support/service.ts';

const BOUNDARY = 'scangate-linger-boundary';

/** Collects what the server sends, so a test can wait for a complete answer. */
function reader(socket: Socket) {
  let received = '';
  let closed = false;
  let error: Error | undefined;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', (cause) => {
    error = cause;
  });
  socket.on('close', () => {
    closed = true;
  });
  return {
    get received() {
      return received;
    },
    get closed() {
      return closed;
    },
    get error() {
      return error;
    },
    async until(predicate: () => boolean): Promise<void> {
      for (let waited = 0; !predicate(); waited += 10) {
        if (waited > 10_000) throw new Error(`gave up waiting; received so far: ${received.slice(0, 300)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}

/** The server may reset the connection: that ends the wait, as a 'close' does, instead of throwing. */
function drainedOrClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}

/** A complete HTTP response in `text` whose body length its Content-Length announces. */
function completeResponses(text: string): string[] {
  const responses: string[] = [];
  let rest = text;
  for (;;) {
    const headerEnd = rest.indexOf('\r\n\r\n');
    if (headerEnd < 0) return responses;
    const length = Number(/content-length: (\d+)/i.exec(rest.slice(0, headerEnd))?.[1] ?? 0);
    if (rest.length < headerEnd + 4 + length) return responses;
    responses.push(rest.slice(0, headerEnd + 4 + length));
    rest = rest.slice(headerEnd + 4 + length);
  }
}

describe('a refusal sent before the body ended still reaches the client', () => {
  let service: TestService;
  let port: number;

  before(async () => {
    service = await startTestService();
    port = Number(new URL(service.url).port);
  });
  after(() => service.stop());

  const formHead = (contentLength: number) =>
    `POST /api/v1/scan/sync/form HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY_A}\r\n` +
    `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${contentLength}\r\n\r\n`;
  const filePart = (field: string, content: string) =>
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"; filename="${field}.txt"\r\n` +
    `Content-Type: application/octet-stream\r\n\r\n${content}\r\n`;

  test('a second file is refused before the last bytes of the form arrive; they are read and the connection serves the next request', async () => {
    // The race a fetch() client loses when the server hangs up at once: the answer leaves as soon as
    // the closing boundary is parsed, while the client's last write (the CRLF after it) is in flight.
    const body = `${filePart('file', 'one')}${filePart('other', 'two')}--${BOUNDARY}--\r\n`;
    const socket = connect(port, '127.0.0.1');
    const answer = reader(socket);
    await once(socket, 'connect');
    socket.write(formHead(Buffer.byteLength(body)) + body.slice(0, -2));

    await answer.until(() => completeResponses(answer.received).length === 1);
    assert.match(answer.received, /^HTTP\/1\.1 413 /);
    assert.match(answer.received, /"code":"payload_too_large"/);

    socket.write(`\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await answer.until(() => completeResponses(answer.received).length === 2 || answer.closed);
    assert.equal(answer.error, undefined);
    assert.equal(answer.closed, false, 'the connection was closed under the client');
    assert.match(completeResponses(answer.received)[1] ?? '', /^HTTP\/1\.1 200 /);
    socket.destroy();
  });

  test('a refused client that keeps sending past the bound has its connection closed', async () => {
    const socket = connect(port, '127.0.0.1');
    const answer = reader(socket);
    await once(socket, 'connect');
    // A wrong key is refused before any body byte is read; the client sends on regardless.
    const announced = DEFAULT_LINGER.maxBytes * 64;
    socket.write(
      `POST /api/v1/scan/sync/binary HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer wrong-key-0123456789\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${announced}\r\n\r\n`,
    );
    await answer.until(() => completeResponses(answer.received).length === 1);
    assert.match(answer.received, /^HTTP\/1\.1 401 /);

    const chunk = Buffer.alloc(64 * 1024, 0x78);
    let sent = 0;
    while (!answer.closed && sent < announced) {
      if (!socket.write(chunk)) await drainedOrClosed(socket);
      sent += chunk.length;
    }
    await answer.until(() => answer.closed);
    assert.ok(sent < announced, `the server read all ${sent} bytes instead of closing`);
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';
import { singleFile } from '../../src/http/uploads.ts';

const BOUNDARY = 'upload-test-boundary';

type Outcome = { bytes: Buffer } | { error: unknown };

/** A multipart body with one file part (and optional fields before or after it). */
function form(file: Buffer, options: { fieldAfter?: boolean } = {}): Buffer {
  const parts = [
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    file,
    Buffer.from('\r\n'),
  ];
  if (options.fieldAfter)
    parts.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="late"\r\n\r\nx\r\n`));
  parts.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(parts);
}

/** singleFile's stream as a consumer sees it: every byte, or the error it ends with. */
describe('singleFile hands the consumer the file part as a stream', () => {
  let app: FastifyInstance;
  let port: number;
  const outcomes: ((outcome: Outcome) => void)[] = [];
  const nextOutcome = () => new Promise<Outcome>((resolve) => outcomes.push(resolve));
  /** How many bytes the next request's consumer reads before it stops (destroys the stream). */
  let stopAfterBytes = Number.POSITIVE_INFINITY;
  /** Told when a consumer holds its first bytes. */
  let firstBytes = Promise.withResolvers<void>();

  before(async () => {
    app = Fastify();
    await app.register(fastifyMultipart, { limits: { files: 1 }, throwFileSizeLimit: false });
    app.post('/upload', async (request, reply) => {
      const settle = outcomes.shift()!;
      const upload = await singleFile(request, 'file');
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of upload.stream) {
          firstBytes.resolve();
          chunks.push(chunk as Buffer);
          size += (chunk as Buffer).length;
          if (size >= stopAfterBytes) {
            upload.stream.destroy();
            settle({ error: 'consumer stopped' });
            return reply.code(413).send({ size });
          }
        }
      } catch (error) {
        settle({ error });
        throw error;
      }
      settle({ bytes: Buffer.concat(chunks) });
      return { size };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as net.AddressInfo).port;
  });
  after(() => app.close());

  /** Sends the request head and `body`; with `declaredLength` larger than the body, then hangs up. */
  async function send(
    body: Buffer,
    declaredLength = body.length,
  ): Promise<{ socket: net.Socket; answer: Promise<string> }> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let answer = '';
    socket.on('data', (data) => {
      answer += data.toString('latin1');
    });
    socket.on('error', () => {});
    const closed = once(socket, 'close').then(() => answer);
    socket.write(
      `POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
        `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${declaredLength}\r\n\r\n`,
    );
    socket.write(body);
    return { socket, answer: closed };
  }

  test('a whole form: the consumer reads every byte of the file and the stream ends', async () => {
    stopAfterBytes = Number.POSITIVE_INFINITY;
    const file = randomBytes(300 * 1024);
    const outcome = nextOutcome();
    const { answer } = await send(form(file));
    const settled = await outcome;
    assert.ok('bytes' in settled, String((settled as { error?: unknown }).error));
    assert.ok(settled.bytes.equals(file));
    assert.match(await answer, /^HTTP\/1\.1 200/);
  });

  test('a client that hangs up mid-file fails the consumer with an error instead of leaving it waiting', async () => {
    stopAfterBytes = Number.POSITIVE_INFINITY;
    const body = form(randomBytes(300 * 1024));
    const outcome = nextOutcome();
    firstBytes = Promise.withResolvers<void>();
    const { socket } = await send(body.subarray(0, 100 * 1024), body.length);
    // The consumer holds the file's first bytes before the hang-up.
    await firstBytes.promise;
    socket.destroy();
    const settled = await outcome;
    assert.ok('error' in settled, 'the consumer saw an error');
    assert.ok(settled.error instanceof Error);
  });

  test('a part after the file fails the consumer at the end of the stream', async () => {
    stopAfterBytes = Number.POSITIVE_INFINITY;
    const outcome = nextOutcome();
    const { answer } = await send(form(randomBytes(1024), { fieldAfter: true }));
    const settled = await outcome;
    assert.ok('error' in settled);
    assert.match(String(settled.error), /nothing may follow the file part/);
    assert.doesNotMatch(await answer, /^HTTP\/1\.1 200/);
  });

  test('a consumer that stops early ends the upload: the answer still reaches the client', async () => {
    stopAfterBytes = 64 * 1024;
    const outcome = nextOutcome();
    const { answer } = await send(form(randomBytes(1024 * 1024)));
    assert.deepEqual(await outcome, { error: 'consumer stopped' });
    assert.match(await answer, /^HTTP\/1\.1 413/);
  });
});

/**
 * IDSESSION against a real clamd: scans share one connection, each reply is matched to its own
 * command id, and a session clamd closes (its ReadTimeout) or that a reload outdates is replaced.
 * Between the pool and clamd sits a loopback proxy that counts sessions (and, in one test,
 * rewrites a reply's id the way a confused peer would).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ClamdConnection } from '../../src/engine/clamd/connection.ts';
import { streamToClamd } from '../../src/engine/clamd/instream.ts';
import { ClamdPool, type ClamdPoolOptions } from '../../src/engine/clamd/pool.ts';
import { parseSessionReply } from '../../src/engine/clamd/protocol.ts';
import { ScanGateError } from '../../src/errors.ts';
import { startTestClamd, type TestClamd } from '../support/clamd.ts';
import { eicarBytes } from '../support/eicar.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

function poolOptions(overrides: Partial<ClamdPoolOptions> = {}): ClamdPoolOptions {
  return {
    connectTimeoutMs: 2000,
    scanTimeoutMs: 30_000,
    healthCheckIntervalMs: 60_000,
    encryptedVerdict: 'unscannable',
    ...overrides,
  };
}

const clean = (seed: number) => Readable.from([Buffer.alloc(KiB, seed)]);
const eicar = () => Readable.from([eicarBytes()]);

/** A loopback TCP proxy to a clamd socket that records how each connection began and ended. */
interface SessionProxy {
  address: string;
  /** Connections that opened an IDSESSION. */
  sessions: number;
  /** Resolves when the next session's upstream connection closes (clamd or the pool ended it). */
  nextClose(): Promise<void>;
  close(): Promise<void>;
}

async function startProxy(
  socketPath: string,
  rewriteReply: (reply: Buffer) => Buffer = (reply) => reply,
): Promise<SessionProxy> {
  const closes: (() => void)[] = [];
  const proxy: SessionProxy = {
    address: '',
    sessions: 0,
    nextClose: () => new Promise((resolve) => closes.push(resolve)),
    close: async () => {
      server.close();
      for (const socket of sockets) socket.destroy();
      await once(server, 'close');
    },
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ path: socketPath });
    sockets.add(client).add(upstream);
    let first = true;
    let session = false;
    client.on('data', (data: Buffer) => {
      if (first && data.toString('latin1').startsWith('zIDSESSION\0')) {
        session = true;
        proxy.sessions++;
      }
      first = false;
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => client.write(rewriteReply(data)));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('error', end).on('close', () => {
      end();
      sockets.delete(upstream);
      if (session) closes.shift()?.();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  proxy.address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return proxy;
}

/** A started pool that reaches clamd through a SessionProxy; both are closed after `run`. */
async function withProxiedPool(
  socketPath: string,
  run: (pool: ClamdPool, proxy: SessionProxy) => Promise<void>,
  options: { rewriteReply?: (reply: Buffer) => Buffer; pool?: Partial<ClamdPoolOptions> } = {},
): Promise<void> {
  const proxy = await startProxy(socketPath, options.rewriteReply);
  const pool = new ClamdPool([proxy.address], poolOptions(options.pool));
  try {
    await pool.start();
    await run(pool, proxy);
  } finally {
    await pool.close();
    await proxy.close();
  }
}

describe('IDSESSION on a real clamd', () => {
  let clamd: TestClamd;
  before(async () => {
    clamd = await startTestClamd();
  });
  after(async () => {
    await clamd.stop();
  });

  test('several INSTREAMs on one session, EICAR in the middle, each answered under its own id', async () => {
    const connection = await ClamdConnection.openSession(
      { kind: 'unix', path: clamd.socketPath },
      { connectTimeoutMs: 2000, replyTimeoutMs: 2000 },
    );
    try {
      const replies: string[] = [];
      for (const input of [clean(1), clean(2), eicar(), clean(3)]) {
        const result = await streamToClamd(connection, input, {
          maxBytes: MiB,
          stallTimeoutMs: 10_000,
          replyTimeoutMs: 10_000,
        });
        assert.equal(result.kind, 'reply');
        if (result.kind === 'reply') replies.push(result.reply);
        assert.ok(connection.reusable, 'the session stays open after OK and FOUND');
      }
      assert.deepEqual(replies, [
        'stream: OK',
        'stream: OK',
        'stream: Eicar-Signature.UNOFFICIAL FOUND',
        'stream: OK',
      ]);
      // The session's PING was command 1; the four streams were 2 to 5.
      assert.equal(connection.sessionCommands, 5);
    } finally {
      connection.destroy();
    }
  });

  test('the pool scans one file after another on a single session', async () => {
    await withProxiedPool(clamd.socketPath, async (pool, proxy) => {
      const verdicts = [];
      for (const input of [clean(1), clean(2), eicar(), clean(3), clean(4)])
        verdicts.push((await pool.scan(input, { maxBytes: MiB })).verdict.status);
      assert.deepEqual(verdicts, ['clean', 'clean', 'infected', 'clean', 'clean']);
      assert.equal(proxy.sessions, 1);
    });
  });

  test('a reply under another command id fails the scan as an engine error, never a verdict', async () => {
    // The proxy answers the second stream of the session as if it were the first.
    const rewriteReply = (reply: Buffer) =>
      Buffer.from(reply.toString('latin1').replace(/^3: /, '2: '), 'latin1');
    await withProxiedPool(
      clamd.socketPath,
      async (pool, proxy) => {
        assert.equal((await pool.scan(clean(1), { maxBytes: MiB })).verdict.status, 'clean');
        await assert.rejects(pool.scan(eicar(), { maxBytes: MiB }), (error: unknown) => {
          assert.ok(error instanceof ScanGateError);
          assert.equal(error.code, 'engine_unavailable');
          assert.equal(error.retryable, true);
          return true;
        });
        // The confused session is gone; the next scan opens a new one and judges correctly.
        assert.equal((await pool.scan(eicar(), { maxBytes: MiB })).verdict.status, 'infected');
        assert.equal(proxy.sessions, 2);
      },
      { rewriteReply },
    );
  });

  test('renewing sessions (after a RELOAD) sends the next scan to a new session', async () => {
    await withProxiedPool(clamd.socketPath, async (pool, proxy) => {
      await pool.scan(clean(1), { maxBytes: MiB });
      const closed = proxy.nextClose();
      await clamd.managed.reload();
      pool.renewSessions();
      await closed;
      assert.equal((await pool.scan(eicar(), { maxBytes: MiB })).verdict.status, 'infected');
      assert.equal(proxy.sessions, 2);
    });
  });
});

test('a session clamd closes on its ReadTimeout is replaced by a new one', async () => {
  // clamd ends an idle session after ReadTimeout with `COMMAND READ TIMED OUT` (measured: not
  // IdleTimeout nor CommandReadTimeout); the pool's own idle limit is set longer here to let it.
  const clamd = await startTestClamd({ clamdOptions: { ReadTimeout: 1 } });
  try {
    await withProxiedPool(
      clamd.socketPath,
      async (pool, proxy) => {
        const closed = proxy.nextClose();
        assert.equal((await pool.scan(clean(1), { maxBytes: MiB })).verdict.status, 'clean');
        await closed;
        assert.equal((await pool.scan(eicar(), { maxBytes: MiB })).verdict.status, 'infected');
        assert.equal(proxy.sessions, 2);
      },
      { pool: { sessionIdleMs: 60_000 } },
    );
  } finally {
    await clamd.stop();
  }
});

describe('session replies', () => {
  test('the id is split from the text', () => {
    assert.deepEqual(parseSessionReply('12: stream: OK'), { id: 12, text: 'stream: OK' });
    assert.deepEqual(parseSessionReply('3: stream: Eicar-Signature.UNOFFICIAL FOUND'), {
      id: 3,
      text: 'stream: Eicar-Signature.UNOFFICIAL FOUND',
    });
  });

  test("clamd's read timeout carries no id", () => {
    assert.deepEqual(parseSessionReply('COMMAND READ TIMED OUT'), {
      id: undefined,
      text: 'COMMAND READ TIMED OUT',
    });
  });
});

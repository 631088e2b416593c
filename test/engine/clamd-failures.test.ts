import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ClamdPool, type ClamdPoolOptions } from '../../src/engine/clamd/pool.ts';
import { verdictCacheKey } from '../../src/engine/verdict.ts';
import { ScanGateError } from '../../src/errors.ts';
import { startTestClamd, type TestClamd } from '../support/clamd.ts';
import { eicarBytes, randomStream } from '../support/eicar.ts';

const MiB = 1024 * 1024;

function poolOptions(overrides: Partial<ClamdPoolOptions> = {}): ClamdPoolOptions {
  return {
    connectTimeoutMs: 1000,
    scanTimeoutMs: 30_000,
    healthCheckIntervalMs: 60_000,
    encryptedVerdict: 'unscannable',
    ...overrides,
  };
}

function isRetryable(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof ScanGateError, `not a ScanGateError: ${error}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.retryable, true);
    return true;
  };
}

const eicar = () => Readable.from([eicarBytes()]);

describe('clamd dies or hangs', () => {
  test('clamd killed while a scan is streaming: a retryable error, never clean', async () => {
    const victim = await startTestClamd();
    const pool = new ClamdPool([victim.socketPath], poolOptions());
    try {
      await pool.start();
      let killed: Promise<void> | undefined;
      const input = randomStream(1024 * MiB, {
        chunkBytes: 64 * 1024,
        onChunk: (_chunk, soFar) => {
          if (!killed && soFar >= 4 * MiB) killed = victim.kill('SIGKILL');
        },
      });
      await assert.rejects(pool.scan(input, { maxBytes: 2000 * MiB }), isRetryable('engine_unavailable'));
      await killed;
      // The pool noticed, and scans now fail fast instead of hanging.
      await assert.rejects(pool.scan(eicar(), { maxBytes: MiB }), isRetryable('engine_unavailable'));
      assert.equal((await pool.status()).addresses[0]?.healthy, false);
    } finally {
      await pool.close();
      await victim.stop();
    }
  });

  test('clamd killed as the last bytes go out: still an error', async () => {
    const victim = await startTestClamd();
    const pool = new ClamdPool([victim.socketPath], poolOptions());
    try {
      await pool.start();
      let killed: Promise<void> | undefined;
      const total = 16 * MiB;
      const input = randomStream(total, {
        onChunk: (_chunk, soFar) => {
          if (soFar === total) killed = victim.kill('SIGKILL');
        },
      });
      await assert.rejects(pool.scan(input, { maxBytes: 64 * MiB }), isRetryable('engine_unavailable'));
      await killed;
    } finally {
      await pool.close();
      await victim.stop();
    }
  });

  test('a clamd that stops answering is an engine_timeout', async () => {
    const frozen = await startTestClamd();
    const pool = new ClamdPool([frozen.socketPath], poolOptions({ scanTimeoutMs: 500 }));
    try {
      await pool.start();
      process.kill(frozen.pid, 'SIGSTOP');
      // No reply after the last byte...
      await assert.rejects(pool.scan(eicar(), { maxBytes: MiB }), isRetryable('engine_timeout'));
      // ...and no room for more bytes.
      await assert.rejects(
        pool.scan(randomStream(32 * MiB), { maxBytes: 64 * MiB }),
        isRetryable('engine_timeout'),
      );
    } finally {
      process.kill(frozen.pid, 'SIGCONT');
      await pool.close();
      await frozen.stop();
    }
  });
});

describe('several addresses', () => {
  let first: TestClamd;
  let second: TestClamd;
  before(async () => {
    [first, second] = await Promise.all([startTestClamd(), startTestClamd()]);
  });
  after(async () => {
    await Promise.all([first.stop(), second.stop()]);
  });

  test('a dead address is skipped', async () => {
    const bogus = '/nonexistent/scangate/clamd.sock';
    const pool = new ClamdPool([bogus, first.socketPath], poolOptions());
    try {
      await pool.start();
      const status = await pool.status();
      assert.equal(status.addresses[0]?.healthy, false);
      assert.match(status.addresses[0]?.lastError ?? '', /ENOENT/);
      assert.equal(status.addresses[1]?.healthy, true);
      for (let index = 0; index < 4; index++) {
        assert.equal((await pool.scan(eicar(), { maxBytes: MiB })).verdict.status, 'infected');
      }
    } finally {
      await pool.close();
    }
  });

  test('a scan that cannot connect moves on to the next address', async () => {
    const doomed = await startTestClamd();
    const pool = new ClamdPool([doomed.socketPath, second.socketPath], poolOptions());
    try {
      await pool.start();
      assert.ok((await pool.status()).addresses.every((address) => address.healthy));
      // Dies between health checks: the pool still believes it healthy.
      await doomed.kill('SIGKILL');
      for (let index = 0; index < 4; index++) {
        assert.equal((await pool.scan(eicar(), { maxBytes: MiB })).verdict.status, 'infected');
      }
      const status = await pool.status();
      assert.equal(status.addresses[0]?.healthy, false);
      assert.equal(status.addresses[1]?.healthy, true);
    } finally {
      await pool.close();
      await doomed.stop();
    }
  });

  test('concurrent scans over two addresses all complete', async () => {
    const pool = new ClamdPool([first.socketPath, second.socketPath], poolOptions());
    try {
      await pool.start();
      const outcomes = await Promise.all(
        Array.from({ length: 6 }, () => pool.scan(randomStream(2 * MiB), { maxBytes: 4 * MiB })),
      );
      assert.ok(outcomes.every((outcome) => outcome.verdict.status === 'clean'));
      assert.equal(await pool.verdictCacheKey(), verdictCacheKey(outcomes[0]!));
    } finally {
      await pool.close();
    }
  });

  test('no address reachable: engine_unavailable', async () => {
    const pool = new ClamdPool(['/nonexistent/a.sock', '/nonexistent/b.sock'], poolOptions());
    try {
      await pool.start();
      await assert.rejects(pool.scan(eicar(), { maxBytes: MiB }), isRetryable('engine_unavailable'));
      await assert.rejects(pool.verdictCacheKey(), isRetryable('engine_unavailable'));
      assert.ok((await pool.status()).addresses.every((address) => !address.healthy));
    } finally {
      await pool.close();
    }
  });

  test('a TCP address on loopback works like a socket path', async () => {
    const port = await freePort();
    const tcp = await startTestClamd({ clamdOptions: { TCPSocket: port, TCPAddr: '127.0.0.1' } });
    const pool = new ClamdPool([`127.0.0.1:${port}`], poolOptions());
    try {
      await pool.start();
      assert.equal((await pool.scan(eicar(), { maxBytes: MiB })).verdict.status, 'infected');
      assert.equal((await pool.scan(randomStream(8 * MiB), { maxBytes: 16 * MiB })).verdict.status, 'clean');
    } finally {
      await pool.close();
      await tcp.stop();
    }
  });
});

describe('the caller stops a scan', () => {
  let clamd: TestClamd;
  before(async () => {
    clamd = await startTestClamd();
  });
  after(async () => {
    await clamd.stop();
  });

  test('an abort signal ends the scan with its reason', async () => {
    const pool = new ClamdPool([clamd.socketPath], poolOptions());
    try {
      await pool.start();
      const controller = new AbortController();
      const reason = new Error('lease lost');
      const input = randomStream(1024 * MiB, {
        onChunk: (_chunk, soFar) => {
          if (soFar >= 4 * MiB) controller.abort(reason);
        },
      });
      await assert.rejects(
        pool.scan(input, { maxBytes: 2000 * MiB, signal: controller.signal }),
        (error) => error === reason,
      );
      assert.ok(input.destroyed);
      assert.equal((await pool.scan(eicar(), { maxBytes: MiB })).verdict.status, 'infected');
    } finally {
      await pool.close();
    }
  });

  test("the source's own error comes through unchanged", async () => {
    const pool = new ClamdPool([clamd.socketPath], poolOptions());
    try {
      await pool.start();
      const failure = new ScanGateError('download_failed', 'connection reset by the remote server', {
        retryable: true,
      });
      const input = Readable.from(
        (async function* () {
          yield eicarBytes();
          yield Buffer.alloc(MiB);
          throw failure;
        })(),
      );
      await assert.rejects(pool.scan(input, { maxBytes: 16 * MiB }), (error) => error === failure);
    } finally {
      await pool.close();
    }
  });

  test('closing the engine aborts scans in flight as shutting_down', async () => {
    const pool = new ClamdPool([clamd.socketPath], poolOptions());
    await pool.start();
    let closed: Promise<void> | undefined;
    const input = randomStream(1024 * MiB, {
      onChunk: (_chunk, soFar) => {
        if (!closed && soFar >= 4 * MiB) closed = pool.close();
      },
    });
    await assert.rejects(pool.scan(input, { maxBytes: 2000 * MiB }), isRetryable('shutting_down'));
    await closed;
    await assert.rejects(pool.scan(eicar(), { maxBytes: MiB }), isRetryable('shutting_down'));
  });
});

test('plain signature files (sigtool fallback): EICAR found, no database version, so no verdict cache', async () => {
  const plain = await startTestClamd({ sigtool: '/nonexistent/sigtool' });
  const pool = new ClamdPool([plain.socketPath], poolOptions());
  try {
    await pool.start();
    const outcome = await pool.scan(eicar(), { maxBytes: MiB });
    assert.equal(outcome.verdict.status, 'infected');
    assert.equal(outcome.signatureVersion, '');
    assert.equal(await pool.verdictCacheKey(), '');
    assert.equal((await pool.status()).signatureVersion, undefined);
  } finally {
    await pool.close();
    await plain.stop();
  }
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

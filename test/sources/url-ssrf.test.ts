import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { LookupAddress } from 'node:dns';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { deliverCallback } from '../../src/delivery/deliverer.ts';
import { createAddressPolicy } from '../../src/egress/address-policy.ts';
import { createPinnedAgent, type ResolveHost } from '../../src/egress/pinned-agent.ts';
import { isScanGateError, type ScanGateError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { openUrlDownload, type UrlDownloadOptions } from '../../src/sources/url/download.ts';
import { type Canary, startCanary, startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import { inLoopbackNamespace, runInLoopbackNamespace } from '../support/netns.ts';

/** Addresses the canaries answer on inside the namespace, so a filter bug would really connect. */
const EXTRA_LOOPBACK_ADDRESSES = ['10.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1', '169.254.169.254'];

const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function blocked(error: unknown): boolean {
  assert.ok(isScanGateError(error), `expected a ScanGateError, got ${String(error)}`);
  assert.equal((error as ScanGateError).code, 'blocked_destination', (error as Error).message);
  assert.equal((error as ScanGateError).retryable, false);
  return true;
}

function downloadOptions(overrides: Partial<UrlDownloadOptions> = {}): UrlDownloadOptions {
  return {
    maxBytes: 1024 * 1024,
    connectTimeoutMs: 1_000,
    headersTimeoutMs: 1_000,
    bodyIdleTimeoutMs: 1_000,
    downloadTimeoutMs: 5_000,
    maxRedirects: 5,
    allowCidrs: [],
    ...overrides,
  };
}

if (!inLoopbackNamespace()) {
  test('SSRF refusal suite runs in a loopback-only network namespace', async () => {
    const run = await runInLoopbackNamespace(import.meta.filename);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /ℹ fail 0/, run.output);
    assert.match(run.output, /ℹ pass [1-9]/, 'the namespaced run executed no test');
  });
} else {
  describe('SSRF refusals, allowlist closed (inside unshare -n)', () => {
    let canary: Canary;
    let port: number;
    const urls: string[] = [];

    before(async () => {
      for (const address of EXTRA_LOOPBACK_ADDRESSES) {
        execFileSync('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo']);
      }
      // One dual-stack listener on every address: any connection that slips through lands here.
      canary = await startCanary('::');
      port = canary.port;
      urls.push(
        `http://127.0.0.1:${port}/`,
        `http://localhost:${port}/`,
        `http://0.0.0.0:${port}/`,
        `http://[::1]:${port}/`,
        `http://[::ffff:127.0.0.1]:${port}/`,
        `http://169.254.169.254:${port}/latest/meta-data/`,
        `http://10.0.0.1:${port}/`,
        `http://172.16.0.1:${port}/`,
        `http://192.168.1.1:${port}/`,
        `http://100.64.0.1:${port}/`,
        `http://2130706433:${port}/`,
        `http://0x7f000001:${port}/`,
        `http://0177.0.0.1:${port}/`,
        `http://0xA9FEA9FE:${port}/`,
      );
    });
    after(async () => {
      await canary.close();
    });

    test('the canary is reachable when a range is opened on purpose (control)', async () => {
      const agent = await createPinnedAgent({
        policy: createAddressPolicy({ allowCidrs: ['10.0.0.1/32'] }),
        connectTimeoutMs: 1000,
      });
      await assert.rejects(request(`http://10.0.0.1:${port}/`, { dispatcher: agent }));
      await agent.destroy();
      assert.equal(canary.connections, 1);
      canary.connections = 0;
    });

    test('downloads refuse every URL at submit/open time', async () => {
      for (const url of urls) await assert.rejects(openUrlDownload(url, {}, downloadOptions()), blocked, url);
      assert.equal(canary.connections, 0);
    });

    test('the pinned agent refuses the same URLs at connect time (URL checks bypassed)', async () => {
      const logged: unknown[] = [];
      const agent = await createPinnedAgent({
        policy: createAddressPolicy(),
        connectTimeoutMs: 1000,
        logger: { ...silentLogger, warn: (details: object) => logged.push(details) },
      });
      try {
        for (const url of urls) await assert.rejects(request(url, { dispatcher: agent }), blocked, url);
      } finally {
        await agent.destroy();
      }
      assert.equal(canary.connections, 0);
      assert.equal(logged.length, urls.length, 'every refusal is logged');
    });

    test('callbacks refuse every URL and do not retry them', async () => {
      for (const url of urls) {
        const result = await deliverCallback({ id: 'msg_1', url, headers: {}, body: '{}' }, WHSEC, {
          timeoutMs: 1000,
          connectTimeoutMs: 1000,
          allowCidrs: [],
        });
        assert.equal(result.ok, false, url);
        assert.equal(result.final, true, url);
      }
      assert.equal(canary.connections, 0);
    });

    test('names resolving to a refused address are refused at connect time', async () => {
      const answers: Record<string, LookupAddress[]> = {
        'internal.example': [{ address: '127.0.0.1', family: 4 }],
        'mixed.example': [
          { address: '93.184.216.34', family: 4 },
          { address: '10.0.0.1', family: 4 },
        ],
        'v6.example': [{ address: '::1', family: 6 }],
        'compat.example': [{ address: '::127.0.0.1', family: 6 }],
        'metadata.google.internal': [{ address: '169.254.169.254', family: 4 }],
        'empty.example': [],
      };
      const resolve: ResolveHost = async (hostname) => answers[hostname] ?? [];
      const agent = await createPinnedAgent({
        policy: createAddressPolicy(),
        connectTimeoutMs: 1000,
        resolve,
      });
      try {
        for (const name of Object.keys(answers)) {
          await assert.rejects(request(`http://${name}:${port}/`, { dispatcher: agent }), blocked, name);
        }
        // The real resolver: localhost is 127.0.0.1 in /etc/hosts.
        const system = await createPinnedAgent({ policy: createAddressPolicy(), connectTimeoutMs: 1000 });
        await assert.rejects(request(`http://localhost:${port}/`, { dispatcher: system }), blocked);
        await system.destroy();
      } finally {
        await agent.destroy();
      }
      assert.equal(canary.connections, 0);
    });

    test('DNS failure is an error, never a connection', async () => {
      const agent = await createPinnedAgent({ policy: createAddressPolicy(), connectTimeoutMs: 1000 });
      await assert.rejects(request(`http://no-such-name.invalid:${port}/`, { dispatcher: agent }));
      await agent.destroy();
      assert.equal(canary.connections, 0);
    });
  });

  describe('redirects and rebinding, with exactly 127.0.0.2 opened', () => {
    let canary: Canary;
    let allowed: TestHttpServer;
    let redirectTo = '';

    before(async () => {
      canary = await startCanary('::');
      allowed = await startHttpServer((_request, response) => {
        response.writeHead(302, { location: redirectTo }).end();
      }, '127.0.0.2');
    });
    after(async () => {
      await allowed.close();
      await canary.close();
    });

    test('a redirect from an allowed host to a refused one is refused', async () => {
      const targets = [
        `http://127.0.0.1:${canary.port}/`,
        `http://[::ffff:127.0.0.1]:${canary.port}/`,
        `http://[::1]:${canary.port}/`,
        `http://169.254.169.254:${canary.port}/`,
        `http://localhost:${canary.port}/`,
      ];
      for (const target of targets) {
        redirectTo = target;
        await assert.rejects(
          openUrlDownload(`${allowed.origin}/file`, {}, downloadOptions({ allowCidrs: ['127.0.0.2/32'] })),
          blocked,
          target,
        );
      }
      assert.equal(allowed.requests.length, targets.length);
      assert.equal(canary.connections, 0);
    });

    test('a redirect to a name that resolves to a refused address is refused at connect time', async () => {
      redirectTo = `http://rebound.example:${canary.port}/`;
      const resolve: ResolveHost = async () => [{ address: '127.0.0.1', family: 4 }];
      await assert.rejects(
        openUrlDownload(
          `${allowed.origin}/file`,
          {},
          downloadOptions({ allowCidrs: ['127.0.0.2/32'], resolve }),
        ),
        blocked,
      );
      assert.equal(canary.connections, 0);
    });

    test('DNS rebinding: each connection resolves once and dials what was validated', async () => {
      const target = await startHttpServer((_request, response) => {
        response.writeHead(200).end('ok');
      }, '127.0.0.2');
      let lookups = 0;
      // First answer allowed, every later one hostile: only a fresh lookup per connection is safe.
      const resolve: ResolveHost = async () => {
        lookups++;
        return [{ address: lookups === 1 ? '127.0.0.2' : '127.0.0.1', family: 4 }];
      };
      const agent = await createPinnedAgent({
        policy: createAddressPolicy({ allowCidrs: ['127.0.0.2/32'] }),
        connectTimeoutMs: 1000,
        resolve,
      });
      try {
        const first = await request(`http://rebind.example:${target.port}/`, {
          dispatcher: agent,
          reset: true,
        });
        assert.equal(await first.body.text(), 'ok');
        assert.equal(lookups, 1);
        await assert.rejects(
          request(`http://rebind.example:${target.port}/`, { dispatcher: agent }),
          blocked,
        );
        assert.equal(lookups, 2);
      } finally {
        await agent.destroy();
        await target.close();
      }
      assert.equal(target.connections, 1);
      assert.equal(canary.connections, 0);
    });
  });
}

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { createAddressPolicy } from '../../src/egress/address-policy.ts';
import { createPinnedAgent, type ResolveHost } from '../../src/egress/pinned-agent.ts';
import { isScanGateError } from '../../src/errors.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';

// Only loopback is dialled here (127.0.0.1 opened by the allowlist), so no namespace is needed.
describe('pinned agent name resolution', () => {
  let server: TestHttpServer;
  const policy = createAddressPolicy({ allowCidrs: ['127.0.0.1/32'] });

  before(async () => {
    server = await startHttpServer((request, response) => response.writeHead(200).end(request.headers.host));
  });
  after(async () => {
    await server.close();
  });

  for (const autoSelectFamily of [true, false]) {
    const form = autoSelectFamily ? 'all-addresses (Happy Eyeballs)' : 'single-address';
    test(`undici dials what our lookup answered, ${form} callback form`, async () => {
      const families: number[] = [];
      const resolve: ResolveHost = async (_hostname, family) => {
        families.push(family);
        return [{ address: '127.0.0.1', family: 4 }];
      };
      const agent = await createPinnedAgent({ policy, connectTimeoutMs: 1000, resolve, autoSelectFamily });
      try {
        // .invalid never resolves in real DNS: an answer proves our lookup was the one used.
        const response = await request(`http://pinned.invalid:${server.port}/`, { dispatcher: agent });
        assert.equal(response.statusCode, 200);
        assert.equal(await response.body.text(), `pinned.invalid:${server.port}`);
        assert.equal(families.length, 1);
      } finally {
        await agent.destroy();
      }
    });

    test(`one refused record refuses the name, ${form} callback form`, async () => {
      const resolve: ResolveHost = async () => [
        { address: '127.0.0.1', family: 4 },
        { address: '127.0.0.2', family: 4 },
      ];
      const agent = await createPinnedAgent({ policy, connectTimeoutMs: 1000, resolve, autoSelectFamily });
      const before = server.connections;
      try {
        await assert.rejects(
          request(`http://mixed.invalid:${server.port}/`, { dispatcher: agent }),
          (error: unknown) => isScanGateError(error) && error.code === 'blocked_destination',
        );
      } finally {
        await agent.destroy();
      }
      assert.equal(server.connections, before);
    });
  }

  test('infrastructure endpoints stay refused inside an opened range', async () => {
    const guarded = createAddressPolicy({
      allowCidrs: ['127.0.0.1/32'],
      deniedEndpoints: [`127.0.0.1:${server.port}`],
    });
    const agent = await createPinnedAgent({ policy: guarded, connectTimeoutMs: 1000 });
    const before = server.connections;
    try {
      await assert.rejects(
        request(`http://127.0.0.1:${server.port}/`, { dispatcher: agent }),
        (error: unknown) => isScanGateError(error) && error.code === 'blocked_destination',
      );
    } finally {
      await agent.destroy();
    }
    assert.equal(server.connections, before);
  });
});

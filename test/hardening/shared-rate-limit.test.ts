import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { hashApiKey } from '../../src/http/api-keys.ts';
import { authHeaders, startTestService, type TestService } from '../support/service.ts';
import { expectRefusal } from './error-body.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('two API instances share one per-key counter in Redis', () => {
  // Fresh keys per run: their counters exist only for this run, and only they are deleted after.
  const keyA = `shared-${randomBytes(12).toString('hex')}`;
  const keyB = `shared-${randomBytes(12).toString('hex')}`;
  const instances: TestService[] = [];
  let redis: Redis;

  before(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    for (let index = 0; index < 2; index++) {
      instances.push(
        await startTestService({
          auth: { apiKeys: [`redis-a=${keyA}`, `redis-b=${keyB}`] },
          rateLimit: { requestsPerMinute: 6, redisUrl: REDIS_URL },
        }),
      );
    }
  });
  after(async () => {
    for (const instance of instances) await instance.stop();
    for (const key of [keyA, keyB]) {
      const counters = await redis.keys(`*${hashApiKey(key).slice(0, 12)}*`);
      if (counters.length > 0) await redis.del(...counters);
    }
    await redis.quit();
  });

  test('3 + 3 requests over two instances use up the limit of 6; the 7th is 429 on either', async () => {
    const [first, second] = instances as [TestService, TestService];
    const ping = (instance: TestService, key: string) =>
      fetch(`${instance.url}/api/v1/test`, { headers: authHeaders(key) });
    for (let index = 0; index < 3; index++) {
      assert.equal((await ping(first, keyA)).status, 204);
      assert.equal((await ping(second, keyA)).status, 204);
    }
    for (const instance of instances) {
      const refused = await ping(instance, keyA);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      await expectRefusal(refused, 429, 'rate_limited');
    }
    assert.equal((await ping(second, keyB)).status, 204, 'key B has its own counter');
  });
});

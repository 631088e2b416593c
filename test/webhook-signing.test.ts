import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { verifyCallbackSignature } from 'scangate/client';
import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret, signWebhook, webhookHeaders } from '../src/webhook-signing.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const MSG_ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TIMESTAMP = 1614265330;
const BODY = '{"test": 2432232314}';
const EXPECTED = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

describe('Standard Webhooks signatures', () => {
  test('matches the spec test vector', () => {
    assert.equal(signWebhook(SECRET, MSG_ID, TIMESTAMP, BODY), EXPECTED);
    assert.equal(signWebhook(SECRET, MSG_ID, TIMESTAMP, Buffer.from(BODY)), EXPECTED);
  });

  test('agrees with the standardwebhooks package both ways', () => {
    const secret = generateWebhookSecret();
    const reference = new Webhook(secret);
    const now = Math.floor(Date.now() / 1000);
    assert.equal(
      signWebhook(secret, 'msg_abc', now, BODY),
      reference.sign('msg_abc', new Date(now * 1000), BODY),
    );
    const headers = webhookHeaders(secret, 'msg_abc', BODY, now);
    assert.deepEqual(reference.verify(BODY, { ...headers }), JSON.parse(BODY));
    const theirs = reference.sign('msg_xyz', new Date(now * 1000), BODY);
    const theirHeaders = {
      'webhook-id': 'msg_xyz',
      'webhook-timestamp': String(now),
      'webhook-signature': theirs,
    };
    assert.equal(verifyCallbackSignature(secret, theirHeaders, BODY), true);
  });

  test('generated secrets are whsec_ + base64 of 32 random bytes', () => {
    const secret = generateWebhookSecret();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(secret.slice(6), 'base64').length, 32);
    assert.notEqual(secret, generateWebhookSecret());
  });

  describe('verifyCallbackSignature (the client package) on Standard Webhooks', () => {
    const headers = {
      'webhook-id': MSG_ID,
      'webhook-timestamp': String(TIMESTAMP),
      'webhook-signature': EXPECTED,
    };

    test('accepts the vector within tolerance, with or without the whsec_ prefix', () => {
      assert.equal(
        verifyCallbackSignature(SECRET, headers, BODY, {
          toleranceSeconds: 300,
          nowSeconds: TIMESTAMP + 300,
        }),
        true,
      );
      assert.equal(
        verifyCallbackSignature(SECRET.slice(6), headers, BODY, {
          toleranceSeconds: 300,
          nowSeconds: TIMESTAMP - 300,
        }),
        true,
      );
    });

    test('accepts a multi-signature header with one valid entry', () => {
      const multi = {
        ...headers,
        'webhook-signature': `v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ${EXPECTED}`,
      };
      assert.equal(
        verifyCallbackSignature(SECRET, multi, BODY, { toleranceSeconds: 300, nowSeconds: TIMESTAMP }),
        true,
      );
    });

    test('rejects tampering, staleness and malformed headers', () => {
      const cases: [string, Record<string, string>, string, number][] = [
        ['body changed', headers, '{"test": 2432232315}', TIMESTAMP],
        ['too old', headers, BODY, TIMESTAMP + 301],
        ['too new', headers, BODY, TIMESTAMP - 301],
        ['missing id', { ...headers, 'webhook-id': '' }, BODY, TIMESTAMP],
        ['other id', { ...headers, 'webhook-id': 'msg_other' }, BODY, TIMESTAMP],
        ['non-numeric timestamp', { ...headers, 'webhook-timestamp': 'abc' }, BODY, TIMESTAMP],
        ['truncated signature', { ...headers, 'webhook-signature': EXPECTED.slice(0, -4) }, BODY, TIMESTAMP],
        ['empty v1', { ...headers, 'webhook-signature': 'v1,' }, BODY, TIMESTAMP],
        [
          'wrong scheme',
          { ...headers, 'webhook-signature': EXPECTED.replace('v1,', 'v2,') },
          BODY,
          TIMESTAMP,
        ],
      ];
      for (const [name, candidate, body, now] of cases) {
        assert.equal(
          verifyCallbackSignature(SECRET, candidate, body, { toleranceSeconds: 300, nowSeconds: now }),
          false,
          name,
        );
      }
      assert.equal(
        verifyCallbackSignature(generateWebhookSecret(), headers, BODY, {
          toleranceSeconds: 300,
          nowSeconds: TIMESTAMP,
        }),
        false,
        'other secret',
      );
    });
  });

  test('refuses ids that would make the signed content ambiguous, and short secrets', () => {
    assert.throws(() => signWebhook(SECRET, 'msg.1', TIMESTAMP, BODY));
    assert.throws(() => signWebhook('whsec_c2hvcnQ=', MSG_ID, TIMESTAMP, BODY));
  });
});

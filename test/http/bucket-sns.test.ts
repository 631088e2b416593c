import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type SnsMessage, snsStringToSign } from '../../src/jobs/buckets/sns-message.ts';
import { writeSelfSignedCertificate } from '../support/certificates.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import { metricsSnapshot } from '../support/metrics.ts';
import { authHeaders, KEY_A, KEY_B, startTestService, type TestService } from '../support/service.ts';

const BUCKET = 'sns-bucket';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:scangate-uploads';

/** A throwaway RSA key and self-signed certificate standing in for SNS's signing certificate. */
async function signingIdentity(): Promise<{ key: string; certificate: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'scangate-sns-'));
  try {
    const { keyFile, certFile } = writeSelfSignedCertificate(dir, { commonName: 'sns.test' });
    return {
      key: await readFile(keyFile, 'utf8'),
      certificate: await readFile(certFile, 'utf8'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('SNS over HTTP: subscription confirmation and signed notifications', () => {
  let service: TestService;
  let sns: TestHttpServer;
  let identity: { key: string; certificate: string };
  const fetched: string[] = [];

  /** A message signed as SNS signs it (version 1: SHA1withRSA, 2: SHA256withRSA). */
  function signed(
    fields: Partial<SnsMessage> & Pick<SnsMessage, 'Type' | 'Message'>,
    version: '1' | '2' = '2',
  ): SnsMessage {
    const message = {
      MessageId: crypto.randomUUID(),
      TopicArn: TOPIC,
      Timestamp: new Date().toISOString(),
      SignatureVersion: version,
      SigningCertURL: `${sns.origin}/SimpleNotificationService-test.pem`,
      Signature: '',
      ...fields,
    } as SnsMessage;
    const signer = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
    signer.update(snsStringToSign(message));
    message.Signature = signer.sign(identity.key, 'base64');
    return message;
  }

  function confirmation(version: '1' | '2' = '2', token = crypto.randomUUID()): SnsMessage {
    return signed(
      {
        Type: 'SubscriptionConfirmation',
        Message: `You have chosen to subscribe to the topic ${TOPIC}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
        Token: token,
        SubscribeURL: `${sns.origin}/?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(TOPIC)}&Token=${token}`,
      },
      version,
    );
  }

  async function post(body: unknown, key = KEY_A) {
    const response = await fetch(`${service.url}/v1/buckets/events`, {
      method: 'POST',
      // SNS posts text/plain with its message type in a header.
      headers: {
        ...authHeaders(key),
        'content-type': 'text/plain; charset=UTF-8',
        'x-amz-sns-message-type': String((body as { Type?: string }).Type),
      },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  before(async () => {
    identity = await signingIdentity();
    sns = await startHttpServer((request, response) => {
      fetched.push(request.url ?? '');
      if (request.url?.endsWith('.pem')) {
        response.writeHead(200, { 'content-type': 'application/x-pem-file' });
        response.end(identity.certificate);
        return;
      }
      response.writeHead(200, { 'content-type': 'text/xml' });
      response.end('<ConfirmSubscriptionResponse/>');
    });
    service = await startTestService({
      buckets: {
        grants: [`tenant-a=${BUCKET}`],
        snsTopics: [`tenant-a=${TOPIC}`],
        // The explicit, test-only trust of a loopback "SNS": without both, nothing here is fetched.
        snsExtraUrlPrefixes: [`${sns.origin}/`],
      },
      network: { allowCidrs: ['127.0.0.1/32'] },
    });
  });
  after(async () => {
    await service?.stop();
    await sns?.close();
  });

  test('a signed SubscriptionConfirmation from an allowed topic is confirmed by fetching its SubscribeURL (signature versions 1 and 2)', async () => {
    const metrics = await metricsSnapshot(service.url);
    for (const version of ['1', '2'] as const) {
      const message = confirmation(version);
      fetched.length = 0;
      const answer = await post(message);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.body, { confirmed: TOPIC });
      assert.ok(
        fetched.some((url) => url.includes(`Token=${message.Token}`)),
        `SubscribeURL fetched: ${fetched.join(', ')}`,
      );
    }
    assert.equal(await metrics.delta('scangate_bucket_sns_subscriptions_total', { outcome: 'confirmed' }), 2);
  });

  test('a confirmation with a bad signature, from another topic, another tenant or a foreign certificate URL fetches no SubscribeURL', async () => {
    const metrics = await metricsSnapshot(service.url);
    fetched.length = 0;
    const tampered = { ...confirmation(), SubscribeURL: `${sns.origin}/elsewhere?Token=stolen` };
    const badSignature = await post(tampered);
    assert.equal(badSignature.status, 403);
    assert.equal(badSignature.body.code, 'sns_signature_invalid');

    const otherTopic = await post(signed({ ...confirmation(), TopicArn: `${TOPIC}-other` }));
    assert.equal(otherTopic.status, 403);
    assert.equal(otherTopic.body.code, 'sns_topic_not_allowed');

    const otherTenant = await post(confirmation(), KEY_B);
    assert.equal(otherTenant.status, 403);
    assert.equal(otherTenant.body.code, 'sns_topic_not_allowed');

    // Not https on an SNS host and not under the allowed prefix: never fetched (127.0.0.2 is loopback too).
    const foreign = await post(
      signed({ ...confirmation(), SigningCertURL: `http://127.0.0.2:${sns.port}/cert.pem` }),
    );
    assert.equal(foreign.status, 403);
    assert.equal(foreign.body.code, 'sns_signature_invalid');

    assert.ok(
      fetched.every((url) => url.endsWith('.pem')),
      `only the certificate was fetched: ${fetched.join(', ')}`,
    );
    assert.equal(await metrics.delta('scangate_bucket_sns_subscriptions_total', { outcome: 'refused' }), 4);
  });

  test('a signed Notification carries the S3 event in Message; a forged one is refused for a tenant with topics', async () => {
    const metrics = await metricsSnapshot(service.url);
    const event = {
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          s3: {
            bucket: { name: BUCKET },
            object: { key: 'in/a+file.txt', size: 3, eTag: 'abc', sequencer: '01' },
          },
        },
      ],
    };
    const notification = signed({
      Type: 'Notification',
      Subject: 'Amazon S3 Notification',
      Message: JSON.stringify(event),
    });
    const accepted = await post(notification);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.deepEqual(accepted.body, { queued: 1, duplicates: 0, ignored: 0 });

    const forged = await post({ ...notification, Message: JSON.stringify({ ...event, forged: true }) });
    assert.equal(forged.status, 403);
    assert.equal(forged.body.code, 'sns_signature_invalid');
    assert.equal(await metrics.delta('scangate_bucket_notifications_total', { outcome: 'accepted' }), 1);
    assert.equal(await metrics.delta('scangate_bucket_notifications_total', { outcome: 'refused' }), 1);
  });

  test('SNS authenticates with Basic credentials from the endpoint URL, after the 401 challenge it waits for', async () => {
    const anonymous = await fetch(`${service.url}/v1/buckets/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=UTF-8' },
      body: JSON.stringify(confirmation()),
    });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /Basic realm="scangate"/);
    const withBasic = await fetch(`${service.url}/v1/buckets/events`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`sns:${KEY_A}`).toString('base64')}`,
        'content-type': 'text/plain; charset=UTF-8',
      },
      body: JSON.stringify(confirmation()),
    });
    assert.equal(withBasic.status, 200);
    const wrongKey = await fetch(`${service.url}/v1/buckets/events`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('sns:not-a-key').toString('base64')}` },
      body: '{}',
    });
    assert.equal(wrongKey.status, 401);
  });
});

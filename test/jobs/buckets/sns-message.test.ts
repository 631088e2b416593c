import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  isSnsEnvelope,
  isTrustedSnsUrl,
  parseSnsMessage,
  type SnsMessage,
  snsStringToSign,
} from '../../../src/jobs/buckets/sns-message.ts';

const base = {
  MessageId: 'm-1',
  TopicArn: 'arn:aws:sns:eu-west-1:123456789012:t',
  Message: 'hello\nworld',
  Timestamp: '2026-11-30T12:00:00.000Z',
  SignatureVersion: '2',
  Signature: 'c2ln',
  SigningCertURL: 'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem',
} as const;

describe('SNS messages', () => {
  test('a notification signs Message, MessageId, Subject (when present), Timestamp, TopicArn, Type in that order', () => {
    const message = { ...base, Type: 'Notification', Subject: 'S' } as SnsMessage;
    assert.equal(
      snsStringToSign(message),
      'Message\nhello\nworld\nMessageId\nm-1\nSubject\nS\nTimestamp\n2026-11-30T12:00:00.000Z\nTopicArn\narn:aws:sns:eu-west-1:123456789012:t\nType\nNotification\n',
    );
    const { Subject: _omitted, ...withoutSubject } = message;
    assert.doesNotMatch(snsStringToSign(withoutSubject as SnsMessage), /Subject/);
  });

  test('a confirmation signs SubscribeURL and Token, and must carry them', () => {
    const message = {
      ...base,
      Type: 'SubscriptionConfirmation',
      SubscribeURL: 'https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription',
      Token: 'tok',
    } as SnsMessage;
    assert.equal(
      snsStringToSign(message),
      'Message\nhello\nworld\nMessageId\nm-1\nSubscribeURL\nhttps://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription\nTimestamp\n2026-11-30T12:00:00.000Z\nToken\ntok\nTopicArn\narn:aws:sns:eu-west-1:123456789012:t\nType\nSubscriptionConfirmation\n',
    );
    assert.throws(() => parseSnsMessage({ ...base, Type: 'SubscriptionConfirmation' }), /no SubscribeURL/);
    assert.throws(
      () => parseSnsMessage({ ...base, Type: 'Notification', SignatureVersion: '3' }),
      /not 1 or 2/,
    );
    assert.throws(() => parseSnsMessage({ ...base, Type: 'Spam' }), /not handled/);
    assert.equal(isSnsEnvelope({ Records: [] }), false);
    assert.equal(isSnsEnvelope({ Type: 'Notification', TopicArn: 'arn:x' }), true);
  });

  test('only https SNS hosts are trusted for certificates and SubscribeURLs, unless a prefix is allowed explicitly', () => {
    assert.ok(isTrustedSnsUrl('https://sns.us-east-1.amazonaws.com/x.pem', []));
    assert.ok(isTrustedSnsUrl('https://sns.cn-north-1.amazonaws.com.cn/x.pem', []));
    for (const url of [
      'http://sns.us-east-1.amazonaws.com/x.pem',
      'https://sns.us-east-1.amazonaws.com.evil.example/x.pem',
      'https://evil.example/sns.us-east-1.amazonaws.com/x.pem',
      'https://user@sns.us-east-1.amazonaws.com/x.pem',
      'https://sns.us-east-1.amazonaws.com:8443/x.pem',
      'https://s3.us-east-1.amazonaws.com/x.pem',
      'not a url',
    ]) {
      assert.equal(isTrustedSnsUrl(url, []), false, url);
    }
    assert.ok(isTrustedSnsUrl('http://127.0.0.1:9000/cert.pem', ['http://127.0.0.1:9000/']));
    assert.equal(isTrustedSnsUrl('http://127.0.0.1:9001/cert.pem', ['http://127.0.0.1:9000/']), false);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ScanGateError } from '../../src/errors.ts';
import { classifyS3Error } from '../../src/sources/s3/index.ts';

const ref = { bucket: 'b', key: 'k' };

/** The shape the AWS SDK gives a service error. */
function serviceError(name: string, status: number): Error {
  return Object.assign(new Error(name), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code}`), { code });
}

describe('classifyS3Error', () => {
  for (const name of ['NoSuchKey', 'NoSuchBucket', 'NoSuchVersion']) {
    test(`${name} is a final object_not_found`, () => {
      const error = classifyS3Error(serviceError(name, 404), ref);
      assert.equal(error.code, 'object_not_found');
      assert.equal(error.retryable, false);
    });
  }

  test('a bare 404 (HEAD has no error body) is object_not_found', () => {
    assert.equal(classifyS3Error(serviceError('NotFound', 404), ref).code, 'object_not_found');
    assert.equal(classifyS3Error(serviceError('Unknown', 404), ref).code, 'object_not_found');
  });

  for (const name of ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden']) {
    test(`${name} is a final access_denied`, () => {
      const error = classifyS3Error(serviceError(name, 403), ref);
      assert.equal(error.code, 'access_denied');
      assert.equal(error.retryable, false);
    });
  }

  test('an archived object (InvalidObjectState) is a final access_denied', () => {
    assert.equal(classifyS3Error(serviceError('InvalidObjectState', 403), ref).code, 'access_denied');
  });

  for (const [name, status] of [
    ['SlowDown', 503],
    ['ServiceUnavailable', 503],
    ['InternalError', 500],
    ['ThrottlingException', 400],
    ['RequestTimeout', 400],
    ['TooManyRequests', 429],
    ['Whatever', 502],
  ] as const) {
    test(`${name} (${status}) is a retryable download_failed`, () => {
      const error = classifyS3Error(serviceError(name, status), ref);
      assert.equal(error.code, 'download_failed');
      assert.equal(error.retryable, true);
    });
  }

  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE']) {
    test(`network error ${code} is a retryable download_failed`, () => {
      const error = classifyS3Error(networkError(code), ref);
      assert.equal(error.code, 'download_failed');
      assert.equal(error.retryable, true);
    });
  }

  test('an SDK socket timeout is retryable', () => {
    const timeout = Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
    assert.equal(classifyS3Error(timeout, ref).retryable, true);
  });

  test('other client errors from S3 (bad request, wrong region) are final download_failed', () => {
    for (const [name, status] of [
      ['InvalidArgument', 400],
      ['PermanentRedirect', 301],
      ['InvalidBucketName', 400],
    ] as const) {
      const error = classifyS3Error(serviceError(name, status), ref);
      assert.equal(error.code, 'download_failed', name);
      assert.equal(error.retryable, false, name);
    }
  });

  test('keeps the cause and names the object', () => {
    const cause = serviceError('NoSuchKey', 404);
    const error = classifyS3Error(cause, { bucket: 'bkt', key: 'dir/file.pdf', version: 'v7' });
    assert.equal(error.cause, cause);
    assert.match(error.message, /s3:\/\/bkt\/dir\/file\.pdf \(version v7\)/);
    assert.equal(error.details?.s3Error, 'NoSuchKey');
  });

  test('a ScanGateError passes through unchanged', () => {
    const original = new ScanGateError('size_limit', 'too big');
    assert.equal(classifyS3Error(original, ref), original);
  });

  test('a non-Error value is a retryable download_failed', () => {
    const error = classifyS3Error('boom', ref);
    assert.equal(error.code, 'download_failed');
    assert.equal(error.retryable, true);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createS3Client } from '../../src/sources/s3/index.ts';

describe('createS3Client', () => {
  test('points at a compatible endpoint with path-style addressing and static credentials', async () => {
    const client = createS3Client({
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-central-1',
      forcePathStyle: true,
      accessKeyId: 'minio',
      secretAccessKey: 'minio-secret',
    });
    try {
      assert.equal(await client.config.region(), 'eu-central-1');
      assert.equal(client.config.forcePathStyle, true);
      const endpoint = await client.config.endpoint?.();
      assert.equal(endpoint?.hostname, '127.0.0.1');
      assert.equal(endpoint?.port, 9000);
      const credentials = await client.config.credentials();
      assert.equal(credentials.accessKeyId, 'minio');
      assert.equal(credentials.secretAccessKey, 'minio-secret');
    } finally {
      client.destroy();
    }
  });

  test('without an endpoint it uses AWS itself', () => {
    const client = createS3Client({
      endpoint: '',
      region: 'us-east-1',
      forcePathStyle: false,
      accessKeyId: '',
      secretAccessKey: '',
    });
    try {
      assert.equal(client.config.endpoint, undefined);
      assert.equal(client.config.forcePathStyle, false);
    } finally {
      client.destroy();
    }
  });
});

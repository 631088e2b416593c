import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Config } from '../../config.ts';

export interface S3ClientOptions {
  connectTimeoutMs?: number;
  /**
   * A socket silent this long fails the call or the body stream being read. Without it a stalled
   * S3 body would hold a worker (and its job lease) forever.
   */
  socketIdleTimeoutMs?: number;
  /** Attempts the SDK makes for one call before the error reaches us (its default is 3). */
  maxAttempts?: number;
}

/**
 * One S3 client for AWS S3 or any compatible store (MinIO, Ceph, R2): the endpoint and path-style
 * addressing come from the operator's config, never from a request. Static credentials when an
 * access key is configured, else the SDK's default chain (environment, profile, instance role).
 */
export function createS3Client(s3: Config['s3'], options: S3ClientOptions = {}): S3Client {
  const clientConfig: S3ClientConfig = {
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    maxAttempts: options.maxAttempts ?? 3,
    // Options for the SDK's Node handler (so we need not depend on @smithy packages directly).
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? 5_000,
      socketTimeout: options.socketIdleTimeoutMs ?? 120_000,
    },
    // Compatible stores differ in which of the newer flexible checksums they accept; sending
    // and checking them only where S3 requires it works with all of them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
  if (s3.endpoint) clientConfig.endpoint = s3.endpoint;
  if (s3.accessKeyId) {
    clientConfig.credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  }
  return new S3Client(clientConfig);
}

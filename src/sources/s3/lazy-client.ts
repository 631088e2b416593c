import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config.ts';
import type { S3ClientOptions } from './client.ts';

/** An S3 client made on first use. */
export type LazyS3Client = () => Promise<S3Client>;

/**
 * The S3 client, created on first use: the SDK is the largest client (+32 MiB over bare Node when
 * imported alone), and most nodes never open an S3 object (S3 sources and bucket scans are
 * optional). Every caller shares one client.
 */
export function lazyS3Client(s3: Config['s3'], options: S3ClientOptions = {}): LazyS3Client {
  let client: Promise<S3Client> | undefined;
  return () => {
    client ??= import('./client.ts').then(({ createS3Client }) => createS3Client(s3, options));
    return client;
  };
}

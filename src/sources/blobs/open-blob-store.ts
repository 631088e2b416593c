import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config.ts';
import { createS3Client } from '../s3/client.ts';
import type { BlobStore } from './blob-store.ts';
import { DirectoryBlobStore } from './directory-blob-store.ts';
import { S3BlobStore } from './s3-blob-store.ts';

/**
 * The blob store the config asks for, initialised: an S3 bucket when `blobs.s3Bucket` is set
 * (nodes that share no disk), else `<dataDir>/uploads`. Pass `s3Client` to share one client.
 */
export async function openBlobStore(
  config: Pick<Config, 'dataDir' | 'blobs' | 's3'>,
  s3Client?: S3Client,
): Promise<BlobStore> {
  const store: BlobStore = config.blobs.s3Bucket
    ? new S3BlobStore(s3Client ?? createS3Client(config.s3), config.blobs.s3Bucket, config.blobs.s3Prefix)
    : new DirectoryBlobStore(path.join(config.dataDir, 'uploads'));
  await store.init();
  return store;
}

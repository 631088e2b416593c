import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config.ts';
import type { BlobStore } from './blob-store.ts';
import { DirectoryBlobStore } from './directory-blob-store.ts';

/**
 * The blob store the config asks for, initialised: an S3 bucket when `blobs.s3Bucket` is set
 * (nodes that share no disk), else `<dataDir>/uploads`. Pass `s3Client` to share one client. The S3
 * SDK is imported only for an S3 bucket: a node staging on its disk never loads it.
 */
export async function openBlobStore(
  config: Pick<Config, 'dataDir' | 'blobs' | 's3'>,
  s3Client?: S3Client,
): Promise<BlobStore> {
  let store: BlobStore;
  if (config.blobs.s3Bucket) {
    const { S3BlobStore } = await import('./s3-blob-store.ts');
    const client = s3Client ?? (await import('../s3/client.ts')).createS3Client(config.s3);
    store = new S3BlobStore(client, config.blobs.s3Bucket, config.blobs.s3Prefix);
  } else store = new DirectoryBlobStore(path.join(config.dataDir, 'uploads'));
  await store.init();
  return store;
}

import { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import type { DeniedEndpoints } from '../egress/infrastructure-endpoints.ts';
import { ScanGateError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ScanSource } from '../scan.ts';
import type { BlobStore } from './blobs/blob-store.ts';
import { s3NotConfigured } from './s3/errors.ts';
import type { LazyS3Client } from './s3/lazy-client.ts';
import type { OpenedSource } from './source.ts';
import { openUrlDownload } from './url/download.ts';

export interface SourceOpenerDependencies {
  blobs: BlobStore;
  /** Asked only for an S3 source: the SDK loads on the first one. */
  s3: LazyS3Client;
  config: Pick<Config, 'network' | 'limits'>;
  logger?: Logger;
  /** scangate's own parts, refused even inside NETWORK_ALLOW_CIDRS (asked at each download). */
  deniedEndpoints?: DeniedEndpoints;
}

/** Opens the bytes a job names, wherever they are, as one stream. */
export class SourceOpener {
  readonly #blobs: BlobStore;
  readonly #s3: LazyS3Client;
  readonly #config: Pick<Config, 'network' | 'limits'>;
  readonly #logger: Logger | undefined;
  readonly #deniedEndpoints: DeniedEndpoints;

  constructor(deps: SourceOpenerDependencies) {
    this.#blobs = deps.blobs;
    this.#s3 = deps.s3;
    this.#config = deps.config;
    this.#logger = deps.logger;
    this.#deniedEndpoints = deps.deniedEndpoints ?? (() => []);
  }

  /**
   * Refuses S3 sources at submit when no credentials can be found (no S3_ACCESS_KEY_ID, nothing in
   * the SDK's default chain), instead of queueing a job that can only fail.
   */
  async assertS3Configured(): Promise<void> {
    try {
      await (await this.#s3()).config.credentials();
    } catch (error) {
      throw s3NotConfigured(error);
    }
  }

  /** `uploadBytes`: an inline upload's bytes, stored with its job instead of in the blob store. */
  async open(source: ScanSource, signal: AbortSignal, uploadBytes?: Uint8Array): Promise<OpenedSource> {
    const maxBytes = this.#config.limits.maxFileSizeBytes;
    switch (source.kind) {
      case 'upload': {
        if (source.inline && !uploadBytes) {
          throw new ScanGateError('internal_error', 'the inline upload was not read with its job');
        }
        const stream = source.inline ? Readable.from([uploadBytes]) : await this.#blobs.open(source.blobKey);
        return source.sha256
          ? { stream, declaredSize: source.size, sha256: source.sha256 }
          : { stream, declaredSize: source.size };
      }
      case 'url':
        return openUrlDownload(source.url, source.headers ?? {}, {
          ...this.#config.network,
          maxBytes,
          signal,
          logger: this.#logger,
          deniedEndpoints: this.#deniedEndpoints(),
        });
      case 's3': {
        const [{ openS3Object }, s3] = await Promise.all([import('./s3/open-object.ts'), this.#s3()]);
        return openS3Object(
          s3,
          source.version === undefined
            ? { bucket: source.bucket, key: source.key }
            : { bucket: source.bucket, key: source.key, version: source.version },
          { maxBytes, signal },
        );
      }
    }
  }
}

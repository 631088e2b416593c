import { ScanGateError } from '../../errors.ts';

interface Grant {
  tenantId: string;
  /** '*' grants every bucket. */
  bucket: string;
  prefix: string;
}

function parseGrant(entry: string): Grant {
  const separator = entry.indexOf('=');
  const target = separator > 0 ? entry.slice(separator + 1).trim() : '';
  if (separator <= 0 || target.length === 0) {
    throw new ScanGateError(
      'invalid_request',
      `bucket grant "${entry}" is not tenant=bucket[/prefix] or tenant=*`,
    );
  }
  const slash = target.indexOf('/');
  return {
    tenantId: entry.slice(0, separator).trim(),
    bucket: slash < 0 ? target : target.slice(0, slash),
    prefix: slash < 0 ? '' : target.slice(slash + 1),
  };
}

/**
 * Which buckets (or prefixes) each tenant may scan, tag, delete in and quarantine to
 * (BUCKET_GRANTS). Nothing is granted unless listed: the service's S3 credentials may reach more
 * than any one tenant should.
 */
export class BucketGrants {
  readonly #grants: Grant[];

  constructor(entries: readonly string[]) {
    this.#grants = entries.map(parseGrant);
  }

  /** True when the tenant may act on every object under `prefix` of `bucket`. */
  allows(tenantId: string, bucket: string, prefix = ''): boolean {
    return this.#grants.some(
      (grant) =>
        grant.tenantId === tenantId &&
        (grant.bucket === '*' || (grant.bucket === bucket && prefix.startsWith(grant.prefix))),
    );
  }

  /** Throws bucket_not_granted (403) unless allowed. */
  check(tenantId: string, bucket: string, prefix = ''): void {
    if (!this.allows(tenantId, bucket, prefix)) {
      throw new ScanGateError(
        'bucket_not_granted',
        `this key's tenant is not granted s3://${bucket}/${prefix} (BUCKET_GRANTS)`,
        { details: { bucket, prefix } },
      );
    }
  }
}

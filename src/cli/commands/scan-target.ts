import { type S3ObjectRef, ScangateApiError } from 'scangate/client';

export type ScanTarget =
  | { kind: 'file'; path: string }
  | { kind: 'stdin' }
  | { kind: 'url'; url: string }
  | { kind: 's3'; object: S3ObjectRef };

/** `-` is standard input, `http(s)://…` a URL, `s3://bucket/key` an S3 object, anything else a path. */
export function parseScanTarget(target: string, s3Version?: string): ScanTarget {
  if (target === '-') return { kind: 'stdin' };
  if (/^https?:\/\//i.test(target)) return { kind: 'url', url: target };
  if (/^s3:\/\//i.test(target)) {
    const match = /^s3:\/\/([^/]+)\/(.+)$/i.exec(target);
    if (!match) throw new Error(`"${target}" is not an S3 object: use s3://bucket/key`);
    const object: S3ObjectRef = { bucket: match[1]!, key: match[2]! };
    if (s3Version) object.version = s3Version;
    return { kind: 's3', object };
  }
  // ftp://, file://, gs://… look like URLs to the user: say which schemes work, not "no such file".
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(target)?.[1];
  if (scheme)
    throw new ScangateApiError(
      0,
      'unsupported_scheme',
      `unsupported URL scheme "${scheme}:" in ${target}: use http(s)://, s3://bucket/key, a path or -`,
    );
  return { kind: 'file', path: target };
}

/** The documented exit codes: scripts branch on them. */
export const EXIT = { clean: 0, infected: 1, unscannable: 2, error: 3, blocked: 4 } as const;

export function exitCodeForStatus(status: string): number {
  switch (status) {
    case 'clean':
      return EXIT.clean;
    case 'infected':
      return EXIT.infected;
    case 'unscannable':
      return EXIT.unscannable;
    case 'blocked':
      return EXIT.blocked;
    default:
      return EXIT.error;
  }
}

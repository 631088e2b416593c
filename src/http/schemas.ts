import { Type } from 'typebox';

/** Shapes shared by the routes; they validate requests and generate /openapi.json. */

export const ErrorResponse = Type.Object(
  {
    code: Type.String({ description: 'stable machine-readable error code' }),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'Error' },
);

export const HeaderMap = Type.Record(Type.String(), Type.String(), {
  description: 'HTTP headers to send (name → value)',
});

const TraceId = Type.String({ minLength: 1, maxLength: 256, description: 'your ID for this scan' });
const CallbackUrl = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: 'receives the result by POST',
});
const CustomData = Type.String({ description: 'passed through to the callback; at most 16 KB of UTF-8' });

export const AsyncCommon = {
  callback_url: Type.Optional(CallbackUrl),
  callback_headers: Type.Optional(HeaderMap),
  trace_id: Type.Optional(TraceId),
  custom_data: Type.Optional(CustomData),
};

export const DownloadFields = {
  download_url: Type.String({
    minLength: 1,
    maxLength: 8192,
    description: 'http(s) URL to download and scan',
  }),
  download_headers: Type.Optional(HeaderMap),
};

export const S3Fields = {
  bucket: Type.String({ minLength: 3, maxLength: 255 }),
  key: Type.String({ minLength: 1, maxLength: 1024 }),
  version: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
};

export const AsyncDownloadBody = Type.Object(
  { ...DownloadFields, ...AsyncCommon },
  { additionalProperties: false },
);
export const AsyncS3Body = Type.Object({ ...S3Fields, ...AsyncCommon }, { additionalProperties: false });
export const SyncDownloadBody = Type.Object(DownloadFields, { additionalProperties: false });
export const SyncS3Body = Type.Object(S3Fields, { additionalProperties: false });

export const BucketAvResult = Type.Object({
  status: Type.Union([Type.Literal('clean'), Type.Literal('infected'), Type.Literal('no')]),
  finding: Type.Optional(Type.String()),
  size: Type.Optional(Type.Integer()),
  realfiletype: Type.Optional(
    Type.String({
      description: 'file type told by the content (e.g. pdf, zip, exe), whatever the name says',
    }),
  ),
});

export const BucketScanInitiated = Type.Object({
  status: Type.Integer(),
  message: Type.String(),
  scanId: Type.String(),
});

export const BucketScanStatus = Type.Object({
  status: Type.Integer(),
  message: Type.String(),
  scanId: Type.String(),
  scanResult: Type.Union([
    Type.Literal('pending'),
    Type.Literal('failed'),
    Type.Literal('completed_clean'),
    Type.Literal('completed_infected'),
  ]),
});

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

export const NativeScan = Type.Object({
  id: Type.String(),
  trace_id: Nullable(Type.String()),
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('clean'),
    Type.Literal('infected'),
    Type.Literal('unscannable'),
    Type.Literal('blocked'),
  ]),
  finding: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  detail: Nullable(Type.String()),
  rule: Nullable(Type.String({ description: 'content-policy rule a blocked scan broke' })),
  evidence: Nullable(Type.String({ description: 'what was seen and where, for blocked scans' })),
  declared_name: Nullable(Type.String({ description: 'the name the content was submitted under' })),
  detected_type: Nullable(Type.String({ description: 'true file type, told from content' })),
  realfiletype: Nullable(Type.String({ description: 'detected type as a person reads it' })),
  content: Nullable(
    Type.Array(Type.Object({ rule: Type.String(), detail: Type.String(), member: Nullable(Type.String()) })),
  ),
  policy: Nullable(Type.Record(Type.String(), Type.Unknown())),
  size: Nullable(Type.Integer()),
  sha256: Nullable(Type.String()),
  engine: Nullable(Type.String()),
  engine_version: Nullable(Type.String()),
  signature_version: Nullable(Type.String()),
  signature_database: Nullable(
    Type.String({
      description: '`clamav`, or `scangate-test` when the offline test database (SIGNATURES=test) judged it',
    }),
  ),
  cached: Type.Boolean(),
  file_type: Nullable(
    Type.Object(
      { ext: Type.String(), mime: Type.String() },
      {
        description:
          'type told by the content (the detection detected_type comes from); null for unknown binary data and empty content',
      },
    ),
  ),
  download_time: Nullable(Type.Number({ description: 'seconds' })),
  scan_time: Nullable(Type.Number({ description: 'seconds' })),
  attempts: Type.Integer(),
  last_error: Nullable(Type.String()),
  source: Type.Record(Type.String(), Type.Unknown()),
  custom_data: Nullable(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  started_at: Nullable(Type.String({ format: 'date-time' })),
  completed_at: Nullable(Type.String({ format: 'date-time' })),
  callback: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  /** The bucket-scan object this job scanned: its verdict's actions (tag, delete, quarantine). */
  bucket_object: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

/** A per-request content policy: a preset name or a policy document, never wider than the tenant's. */
export const RequestPolicy = Type.Optional(
  Type.Union([Type.String({ maxLength: 64 }), Type.Record(Type.String(), Type.Unknown())], {
    description:
      'content policy for this scan: "strict" or {block, allowed_types, max_archive_members}; narrower only',
  }),
);

export const NativeUrlBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 8192 }),
    headers: Type.Optional(HeaderMap),
    policy: RequestPolicy,
    ...AsyncCommon,
  },
  { additionalProperties: false },
);

export const NativeS3Body = Type.Object(
  { ...S3Fields, policy: RequestPolicy, ...AsyncCommon },
  { additionalProperties: false },
);

/**
 * Completes the OpenAPI document fastify-swagger builds from the route schemas, in one place, with
 * what route schemas cannot say: servers, an operationId for every operation, the upload request
 * bodies (so Swagger UI sends a file and generators produce a file parameter), the 201/204 answers
 * of async submits, errors by $ref, and the operations endpoints (served without an API key).
 */

type Json = Record<string, unknown>;
interface Operation extends Json {
  tags?: string[];
  operationId?: string;
  requestBody?: Json;
  responses?: Record<string, unknown>;
  security?: unknown[];
}

const ERROR_SCHEMA = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', description: 'stable machine-readable error code' },
    message: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
  },
};

/** Every error status scangate answers, with the codes behind it (http/errors.ts). */
const ERROR_RESPONSES: Record<string, string> = {
  '400': 'invalid_request, empty_file or blocked_destination',
  '401': 'unauthorized: missing or invalid API key',
  '403': 'access_denied: S3 refused the read',
  '404': 'not_found',
  '409': 'duplicate_trace_id: the same trace_id is still pending',
  '413': 'payload_too_large: over MAX_FILE_SIZE or the JSON body limit',
  '415': 'unsupported_media_type',
  '429': 'rate_limited or quota_exceeded (see Retry-After)',
  '500': 'internal_error',
  '502': 'download_failed',
  '503': 'engine_unavailable, store_unavailable, shutting_down or s3_not_configured (see Retry-After)',
  '504': 'download_timeout',
};

const MULTIPART_UPLOAD = {
  required: true,
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['file'],
        properties: { file: { type: 'string', format: 'binary', description: 'the file to scan' } },
      },
    },
  },
};
const NATIVE_UPLOAD = {
  required: true,
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['file'],
        properties: {
          trace_id: { type: 'string', maxLength: 256, description: 'send before the file part' },
          callback_url: { type: 'string', maxLength: 2048 },
          custom_data: { type: 'string', description: 'at most 16 KB of UTF-8' },
          file: { type: 'string', format: 'binary', description: 'the file to scan (last part)' },
        },
      },
    },
  },
};
const BINARY_UPLOAD = {
  required: true,
  content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
};

const ACCEPTED_WITH_LOCATION = {
  description: 'Queued without callback_url: poll the absolute URL in Location',
  headers: {
    Location: { schema: { type: 'string', format: 'uri' }, description: 'URL of the result to poll' },
    'Content-Length': { schema: { type: 'integer', enum: [0] } },
  },
};
const ACCEPTED_WITH_CALLBACK = { description: 'Queued with callback_url: the result is POSTed there' };

const OPERATIONS_PATHS = {
  '/healthz': {
    get: {
      tags: ['operations'],
      operationId: 'healthz',
      summary: 'Liveness: the process answers',
      security: [],
      responses: {
        '200': {
          description: 'alive',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['status'],
                properties: { status: { type: 'string', enum: ['ok'] } },
              },
            },
          },
        },
      },
    },
  },
  '/readyz': {
    get: {
      tags: ['operations'],
      operationId: 'readyz',
      summary: 'Readiness: clamd answers, detects the EICAR canary, and the store is reachable',
      security: [],
      responses: {
        '200': { $ref: '#/components/responses/Readiness' },
        '503': { $ref: '#/components/responses/Readiness' },
      },
    },
  },
  '/metrics': {
    get: {
      tags: ['operations'],
      operationId: 'metrics',
      summary: 'Prometheus metrics (expose to your scraper only)',
      security: [],
      responses: {
        '200': {
          description: 'Prometheus text exposition format',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
      },
    },
  },
};

const READINESS_RESPONSE = {
  description: 'ready (200) or not (503), with the problems found',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['status', 'problems', 'engine', 'store'],
        properties: {
          status: { type: 'string', enum: ['ready', 'not_ready'] },
          problems: { type: 'array', items: { type: 'string' } },
          engine: { type: 'object', additionalProperties: true },
          store: { type: 'string', enum: ['sqlite', 'postgres'] },
          signatures: {
            type: 'object',
            additionalProperties: true,
            description: 'where the signatures come from, their age and the last update',
          },
          formats: {
            type: 'object',
            additionalProperties: true,
            description: 'the container-format self-test (shown to a caller with an API key)',
          },
        },
      },
    },
  },
};

function looksLikeError(response: unknown): boolean {
  const schema = (response as { content?: Record<string, { schema?: Json }> })?.content?.['application/json']
    ?.schema;
  const properties = schema?.properties as Json | undefined;
  return !!properties && 'code' in properties && 'message' in properties;
}

/** `POST /api/v1/scan/async/download` in tag bucketAV → `bucketAvPostScanAsyncDownload`. */
export function derivedOperationId(method: string, path: string, tag: string | undefined): string {
  const words = path
    .split('/')
    .filter((segment) => segment && segment !== 'api' && segment !== 'v1')
    .flatMap((segment) =>
      segment.startsWith('{') ? ['by', segment.slice(1, -1)] : segment.split(/[^A-Za-z0-9]+/),
    );
  const prefix = (tag ?? '').replace(/[^A-Za-z0-9]/g, '');
  const camel = [
    prefix ? prefix[0]!.toLowerCase() + prefix.slice(1).replace(/AV$/, 'Av') : '',
    method,
    ...words,
  ]
    .filter(Boolean)
    .map((word, index) => (index === 0 ? word : word[0]!.toUpperCase() + word.slice(1)))
    .join('');
  return camel;
}

function uploadBodyFor(path: string): Json | undefined {
  if (path === '/v1/scans/file') return NATIVE_UPLOAD;
  if (/\/scan\/sync\/form$/.test(path) || path === '/api/v1/scans/initiate') return MULTIPART_UPLOAD;
  if (/\/scan\/sync\/binary$/.test(path)) return BINARY_UPLOAD;
  return undefined;
}

export function completeOpenApi<T extends object>(document: T, options: { publicUrl: string }): T {
  const doc = document as unknown as Json & {
    paths: Record<string, Record<string, Operation>>;
    components?: Json;
  };
  doc.servers = [
    options.publicUrl
      ? { url: options.publicUrl.replace(/\/+$/, ''), description: 'this scangate (PUBLIC_URL)' }
      : { url: '/', description: 'this scangate' },
  ];
  doc.info = {
    ...(doc.info as Json),
    license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
  };
  doc.components ??= {};
  const components = doc.components as Json & { schemas?: Json; responses?: Json };
  // fastify-swagger lists the shared error schema as an unused `def-N`; it is declared once, by name.
  for (const [name, schema] of Object.entries(components.schemas ?? {})) {
    if ((schema as Json).title === 'Error') delete components.schemas![name];
  }
  components.schemas = { ...components.schemas, Error: ERROR_SCHEMA };
  components.responses = {
    ...Object.fromEntries(
      Object.entries(ERROR_RESPONSES).map(([status, description]) => [
        `Error${status}`,
        { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      ]),
    ),
    Readiness: READINESS_RESPONSE,
  };

  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      operation.operationId ??= derivedOperationId(method, path, operation.tags?.[0]);
      const upload = uploadBodyFor(path);
      if (upload && !operation.requestBody) operation.requestBody = upload;
      operation.responses ??= {};
      const responses = operation.responses;
      if (/\/scan\/async\/(download|s3)$/.test(path)) {
        responses['201'] ??= ACCEPTED_WITH_LOCATION;
        responses['204'] ??= ACCEPTED_WITH_CALLBACK;
      }
      const authenticated = !Array.isArray(operation.security) || operation.security.length > 0;
      if (authenticated) {
        responses['401'] ??= {};
        responses['429'] ??= {};
      }
      if (method === 'post' && authenticated) responses['503'] ??= {};
      // A synchronous URL or S3 scan passes on the source's own failure.
      if (/\/scan\/sync\/(download|s3)$/.test(path)) {
        responses['403'] ??= {};
        responses['502'] ??= {};
        responses['504'] ??= {};
      }
      responses['500'] ??= {};
      for (const [status, response] of Object.entries(responses)) {
        if (!/^[45]\d\d$/.test(status) || !(status in ERROR_RESPONSES)) continue;
        if (looksLikeError(response) || Object.keys(response as Json).length === 0)
          responses[status] = { $ref: `#/components/responses/Error${status}` };
      }
    }
  }
  doc.paths = { ...doc.paths, ...OPERATIONS_PATHS };
  return document;
}

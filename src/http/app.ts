import fastifyMultipart from '@fastify/multipart';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { PublishedPublicKey } from '../attachmentav-signing.ts';
import type { Config } from '../config.ts';
import { createAddressPolicy } from '../egress/address-policy.ts';
import type { DeniedEndpoints } from '../egress/infrastructure-endpoints.ts';
import type { ScanEngine } from '../engine/engine.ts';
import type { FormatSelfTestReport } from '../engine/format-self-test.ts';
import type { SignatureReporter } from '../engine/signature-lifecycle.ts';
import { isScanGateError } from '../errors.ts';
import type { BucketScanService } from '../jobs/buckets/bucket-scan-service.ts';
import type { ScanService } from '../jobs/scan-service.ts';
import type { ScanEvents } from '../scan-events.ts';
import type { ApiKeyAuthenticator, Tenant } from './api-keys.ts';
import { buildValidatorsWithStrictBodies } from './body-validation.ts';
import { clientErrorHandler } from './client-errors.ts';
import { registerErrorHandling } from './errors.ts';
import { registerMetrics, type ScanMetrics } from './metrics.ts';
import { completeOpenApi } from './openapi.ts';
import { registerRateLimit } from './rate-limit.ts';
import { echoRequestId, requestIdFor } from './request-id.ts';
import { serializeRequest } from './request-log.ts';
import { buildSerializersWithTypeLists } from './response-serialization.ts';
import type { RouteContext } from './route-context.ts';
import { attachmentAvRoutes } from './routes/attachmentav.ts';
import { bucketAvRoutes } from './routes/bucketav.ts';
import { bucketRoutes } from './routes/buckets.ts';
import { bucketScanRoutes } from './routes/bucketscan.ts';
import { callbackPublicKeyRoutes } from './routes/callback-public-keys.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { nativeRoutes } from './routes/native.ts';
import { operationsRoutes } from './routes/operations.ts';
import { policyRoutes } from './routes/policy.ts';
import { statsRoutes } from './routes/stats.ts';
import { ErrorResponse } from './schemas.ts';
import { SnsSubscriptions } from './sns-subscriptions.ts';
import { loadTlsOptions } from './tls.ts';

export interface HttpAppDependencies {
  /** Shared rate-limit counters when several API nodes run (REDIS_URL). */
  redis?: Redis;
  config: Config;
  logger: Logger;
  scans: ScanService;
  engine: ScanEngine;
  authenticator: ApiKeyAuthenticator;
  webhookSecret(tenantId: string): Promise<string>;
  canary?: () => Promise<boolean>;
  /** Keys verifying attachmentAV callback signatures, published without an API key. */
  callbackPublicKeys?: readonly PublishedPublicKey[];
  /** The container-format self-test's report, once it has run. */
  formatSelfTest?: () => FormatSelfTestReport | undefined;
  signatures?: SignatureReporter;
  /** Serves /metrics and counts HTTP answers when present. */
  metrics?: ScanMetrics;
  /** Bucket scans, watches and S3 event notifications (/v1/buckets/*). */
  bucketScans?: BucketScanService;
  /** Where SNS subscription confirmations are reported (metrics). */
  events?: ScanEvents;
  /**
   * scangate's own endpoints (API port, clamd, databases), refused to callback URLs at submit like
   * the downloads and deliveries refuse them. Asked at each check: the list is replaced (with the API
   * port) once the API listens.
   */
  deniedEndpoints?: DeniedEndpoints;
}

/** Builds the fastify app: the three vendor dialects, the native API, docs and operations routes. */
export async function buildHttpApp(deps: HttpAppDependencies): Promise<FastifyInstance> {
  const { config } = deps;
  const tls = loadTlsOptions(config.http);
  const common = {
    // Request logs carry the URL: secret-looking query parameters (an API key) are redacted.
    loggerInstance: deps.logger.child({}, { serializers: { req: serializeRequest } }) as FastifyBaseLogger,
    bodyLimit: config.http.jsonBodyLimitBytes,
    requestTimeout: config.http.requestTimeoutMs,
    keepAliveTimeout: 72_000,
    return503OnClosing: true,
    trustProxy: config.http.trustProxy,
    // A vendor SDK configured with a trailing-slash host asks for `//v1/scan/…`.
    routerOptions: { ignoreDuplicateSlashes: true },
    genReqId: requestIdFor,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    clientErrorHandler,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array' as const, useDefaults: true } },
    schemaController: {
      compilersFactory: {
        buildValidator: buildValidatorsWithStrictBodies(),
        buildSerializer: buildSerializersWithTypeLists(),
      },
    },
  };
  // With a certificate: HTTPS, HTTP/2 and HTTP/1.1 on one port (ALPN), as the vendors' examples use.
  // The HTTP/2 server has no headersTimeout; an idle connection is closed after connectionTimeout.
  const app = (tls
    ? Fastify({ ...common, http2: true, https: tls, connectionTimeout: config.http.headersTimeoutMs * 4 })
    : Fastify({
        ...common,
        // Node enforces headersTimeout/requestTimeout only when it sweeps its connections (every 30 s by
        // default): a slowloris socket would live 30 s past its timeout. Sweep at a quarter of it.
        http: {
          connectionsCheckingInterval: Math.min(
            5_000,
            Math.max(250, Math.floor(config.http.headersTimeoutMs / 4)),
          ),
        },
        connectionTimeout: 0,
      })) as unknown as FastifyInstance;
  if (!tls) app.server.headersTimeout = config.http.headersTimeoutMs;

  registerErrorHandling(app);
  echoRequestId(app);
  if (deps.metrics) registerMetrics(app, deps.metrics);
  app.addSchema(ErrorResponse);

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'scangate',
        version: '0.1.0',
        description:
          'Malware scanning over HTTP: bucketAV, attachmentAV and Bucketscan dialects plus the native API.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    transformObject: (documents) =>
      completeOpenApi('openapiObject' in documents ? documents.openapiObject : documents.swaggerObject, {
        publicUrl: config.http.publicUrl,
      }),
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(
    operationsRoutes({
      engine: deps.engine,
      store: { kind: deps.scans.storeKind, ping: () => deps.scans.pingStore() },
      canary: deps.canary,
      formatSelfTest: deps.formatSelfTest,
      isAuthenticated: (request) =>
        deps.authenticator.authenticate(request).then(
          () => true,
          () => false,
        ),
      signatures: deps.signatures,
      maxSignatureAgeSeconds: config.signatures.maxAgeSeconds,
    }),
  );

  await app.register(dashboardRoutes());
  if (deps.callbackPublicKeys) await app.register(callbackPublicKeyRoutes(deps.callbackPublicKeys));

  const deniedEndpoints = deps.deniedEndpoints ?? (() => []);
  // The policy is rebuilt only when the list is replaced (once, when the API listens).
  let destinationsFor = deniedEndpoints();
  let destinations = createAddressPolicy({
    allowCidrs: config.network.allowCidrs,
    deniedEndpoints: destinationsFor,
  });
  const currentDestinations = () => {
    const denied = deniedEndpoints();
    if (denied !== destinationsFor) {
      destinations = createAddressPolicy({ allowCidrs: config.network.allowCidrs, deniedEndpoints: denied });
      destinationsFor = denied;
    }
    return destinations;
  };
  const context: RouteContext = {
    scans: deps.scans,
    maxFileSizeBytes: config.limits.maxFileSizeBytes,
    publicUrl: config.http.publicUrl,
    get destinations() {
      return currentDestinations();
    },
    webhookSecret: deps.webhookSecret,
    ...(deps.bucketScans ? { bucketScans: deps.bucketScans } : {}),
  };

  // Everything below needs an API key; it is checked before any body byte is read.
  await app.register(async (api) => {
    api.decorateRequest('tenant', null as unknown as Tenant);
    api.addHook('onRequest', async (request, reply) => {
      try {
        request.tenant = await deps.authenticator.authenticate(request);
      } catch (error) {
        // SNS sends the key of an endpoint URL like https://scangate:<key>@host/… only after this
        // challenge. Only on the event endpoint: on any other route a browser would pop up a login.
        if (
          isScanGateError(error) &&
          error.code === 'unauthorized' &&
          request.routeOptions.url === '/v1/buckets/events'
        )
          reply.header('www-authenticate', 'Basic realm="scangate", charset="UTF-8"');
        throw error;
      }
    });
    if (config.rateLimit.requestsPerMinute > 0) await registerRateLimit(api, config, deps.redis);
    await api.register(fastifyMultipart, {
      limits: {
        files: 1,
        fields: 10,
        parts: 12,
        fieldSize: 64 * 1024,
        fieldNameSize: 100,
        headerPairs: 100,
        // One byte past the limit reaches the consumer, which refuses it: the blob store or engine decides.
        fileSize: config.limits.maxFileSizeBytes + 1,
      },
      throwFileSizeLimit: false,
    });
    // fastify parses text/plain by default; no route takes it, so it is 415 like any other type.
    api.removeContentTypeParser('text/plain');
    api.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    await api.register(bucketAvRoutes(context));
    await api.register(attachmentAvRoutes(context));
    await api.register(bucketScanRoutes(context));
    await api.register(nativeRoutes(context));
    await api.register(policyRoutes(context));
    await api.register(statsRoutes(context));
    if (deps.bucketScans) {
      const sns = new SnsSubscriptions({
        topics: config.buckets.snsTopics,
        extraUrlPrefixes: config.buckets.snsExtraUrlPrefixes,
        destinations: currentDestinations,
        logger: deps.logger.child({ component: 'sns' }),
        events: deps.events,
      });
      api.addHook('onClose', () => sns.close());
      await api.register(bucketRoutes(deps.bucketScans, sns));
    }
  });

  return app;
}

import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Config } from '../config.ts';
import { loadCallbackSigningKeys } from '../delivery/callback-signing-keys.ts';
import { CallbackDeliveryWorker, webhookSecretFactory } from '../delivery/delivery-worker.ts';
import { infrastructureEndpoints } from '../egress/infrastructure-endpoints.ts';
import { runCanary } from '../engine/canary.ts';
import { createEngine } from '../engine/create-engine.ts';
import {
  type FormatSelfTestReport,
  logFormatSelfTest,
  runFormatSelfTest,
} from '../engine/format-self-test.ts';
import { SignatureLifecycle, type SignatureReporter } from '../engine/signature-lifecycle.ts';
import { ApiKeyAuthenticator } from '../http/api-keys.ts';
import { buildHttpApp } from '../http/app.ts';
import { ScanMetrics } from '../http/metrics.ts';
import { buildOperationsApp } from '../http/operations-app.ts';
import { RetentionSweeper } from '../jobs/retention.ts';
import { ScanService } from '../jobs/scan-service.ts';
import { ScanWorkerPool } from '../jobs/scan-worker-pool.ts';
import { ScanEvents } from '../scan-events.ts';
import { openBlobStore } from '../sources/blobs/open-blob-store.ts';
import { lazyS3Client } from '../sources/s3/lazy-client.ts';
import { SourceOpener } from '../sources/source-opener.ts';
import type { Store } from '../store/contracts.ts';
import { openStore } from '../store/open-store.ts';
import { SCANGATE_VERSION } from '../version.ts';
import { startBucketScanning } from './bucket-scanning.ts';

export interface RunningService {
  config: Config;
  logger: Logger;
  store: Store;
  /** The signature source of the engine (a SignatureLifecycle for the managed clamd). */
  signatures: SignatureReporter;
  /** Where the HTTP API listens (role all or api). */
  url?: string;
  http?: FastifyInstance;
  stop(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({ level: config.logLevel, base: { service: 'scangate', role: config.role } });
}

/**
 * The composition root: builds every part from the one config and starts what the role needs.
 * `all` runs API, scan workers and callback delivery in one process; `api` and `worker` split them
 * over a shared PostgreSQL database and blob store.
 */
export async function startService(config: Config, logger = createLogger(config)): Promise<RunningService> {
  const closers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const close of closers.reverse()) {
      await close().catch((error: unknown) => logger.error({ err: error }, 'error while stopping'));
    }
  };
  try {
    const store = await openStore(config);
    closers.push(() => store.close());
    const callbackKeys = await loadCallbackSigningKeys(config.callbacks, store.keys);
    // One S3 client for staging, S3 sources and bucket scans, made when the first of them needs it.
    const s3 = lazyS3Client(config.s3);
    const blobs = await openBlobStore(config, config.blobs.s3Bucket ? await s3() : undefined);
    const engineHandle = await createEngine(config, logger);
    closers.push(() => engineHandle.close());
    let workers: ScanWorkerPool | undefined;
    const metrics = new ScanMetrics({
      queueDepth: () => store.jobs.countUnfinished(),
      engineStatus: () => engineHandle.engine.status(),
      jobsInFlight: () => workers?.activeJobs ?? 0,
      build: { version: SCANGATE_VERSION, role: config.role },
      signatures: () => engineHandle.signatures.status(),
    });
    if (engineHandle.signatures instanceof SignatureLifecycle) {
      engineHandle.signatures.on('update', (update) => metrics.recordSignatureUpdate(update));
      engineHandle.signatures.on('reload', (reload) => metrics.recordSignatureReload(reload));
    }
    const engine = metrics.meterEngine(engineHandle.engine);
    const events = new ScanEvents();
    metrics.observe(events);
    // Known now except the API's own port when the OS picks it (PORT=0): the list is replaced, not
    // edited, once the API listens, and every reader asks for it at use time.
    let denied: readonly string[] = Object.freeze(await infrastructureEndpoints(config));
    const deniedEndpoints = () => denied;
    // Which containers this clamd can open, asked of clamd itself; in the background, as it takes a
    // second and readiness does not wait for it (the verdict rules do not depend on it).
    // Until clamd answers (a managed freshclam may still be fetching the first database), try again.
    let formatReport: FormatSelfTestReport | undefined;
    let formatRetry: NodeJS.Timeout | undefined;
    const testFormats = (): void => {
      void runFormatSelfTest(engineHandle.engine).then(
        (report) => {
          if (report.engineUnavailable) {
            formatRetry = setTimeout(testFormats, 30_000).unref();
            return;
          }
          formatReport = report;
          logFormatSelfTest(logger, report);
        },
        (error: unknown) => logger.error({ err: error }, 'format self-test failed'),
      );
    };
    testFormats();
    closers.push(async () => clearTimeout(formatRetry));
    const sources = new SourceOpener({ blobs, s3, config, logger, deniedEndpoints });
    const runnerDeps = {
      store,
      engine,
      sources,
      maxFileSizeBytes: config.limits.maxFileSizeBytes,
      verdictCache: config.engine.verdictCache,
    };
    const runsWorkers = config.role !== 'api';
    const runsApi = config.role !== 'worker';

    let startWorkers = () => {};
    if (runsWorkers) {
      const delivery = new CallbackDeliveryWorker({
        store,
        config,
        logger: logger.child({ component: 'delivery' }),
        events,
        deniedEndpoints,
        attachmentAvKey: callbackKeys.privateKey,
      });
      events.on('callback:queued', () => delivery.wake());
      workers = new ScanWorkerPool({
        ...runnerDeps,
        blobs,
        jobs: config.jobs,
        logger: logger.child({ component: 'worker' }),
        events,
      });
      const sweeper = new RetentionSweeper({
        jobs: store.jobs,
        retentionSeconds: config.jobs.resultRetentionSeconds,
        intervalMs: config.jobs.sweepIntervalMs,
        logger,
        blobs,
      });
      startWorkers = () => {
        workers!.start();
        delivery.start();
        sweeper.start();
      };
      closers.push(async () => {
        sweeper.stop();
        await Promise.all([workers!.stop(), delivery.stop()]);
      });
    }

    const bucketScanning = await startBucketScanning(config, store.jobs, logger, {
      runWalker: runsWorkers,
      s3,
      events,
      watchWork: (queue, wake) => store.watchWork(queue, wake),
      ...(workers ? { notifyWorkers: () => workers.wake() } : {}),
    });
    closers.push(() => bucketScanning.close());

    const service: RunningService = { config, logger, store, signatures: engineHandle.signatures, stop };
    if (runsApi) {
      const scans = new ScanService({
        ...runnerDeps,
        blobs,
        maxUnfinishedJobsPerTenant: config.rateLimit.maxConcurrentJobsPerKey,
        inlineUploadMaxBytes: config.jobs.inlineUploadMaxBytes,
        events,
        notifyWorkers: workers ? () => workers.wake() : undefined,
        bucketGrants: config.buckets.grants.length > 0 ? bucketScanning.grants : undefined,
      });
      // Imported only when configured: a node without Redis does not carry its client.
      const redis = config.rateLimit.redisUrl
        ? new (await import('ioredis')).Redis(config.rateLimit.redisUrl, { maxRetriesPerRequest: 2 })
        : undefined;
      if (redis) closers.push(async () => void (await redis.quit()));
      const http = await buildHttpApp({
        ...(redis ? { redis } : {}),
        config,
        logger,
        scans,
        engine,
        authenticator: new ApiKeyAuthenticator(config.auth.apiKeys, store.keys),
        webhookSecret: (tenantId) =>
          store.keys.webhookSecret(tenantId, webhookSecretFactory(config.callbacks)),
        canary: async () => (await runCanary(engineHandle.engine)).ok,
        formatSelfTest: () => formatReport,
        deniedEndpoints,
        signatures: engineHandle.signatures,
        metrics,
        callbackPublicKeys: callbackKeys.published,
        bucketScans: bucketScanning.service,
        events,
      });
      // Stop accepting first, so no request is accepted after the workers stopped.
      closers.push(() => http.close());
      const address = await http.listen({ host: config.http.host, port: config.http.port });
      const listening = http.server.address();
      if (listening && typeof listening === 'object') {
        denied = Object.freeze(await infrastructureEndpoints(config, listening.port));
      }
      service.url = address;
      service.http = http;
    }
    // (role is in every line already: the logger's base.)
    if (!runsApi) {
      // A worker serves no API, but answers probes and scrapes on PORT.
      const operations = await buildOperationsApp({
        logger,
        engine,
        store: { kind: store.kind, ping: () => store.ping() },
        metrics,
        canary: async () => (await runCanary(engineHandle.engine)).ok,
        signatures: engineHandle.signatures,
        maxSignatureAgeSeconds: config.signatures.maxAgeSeconds,
      });
      closers.push(() => operations.close());
      service.url = await operations.listen({ host: config.http.host, port: config.http.port });
      const listening = operations.server.address();
      if (listening && typeof listening === 'object') {
        denied = Object.freeze(await infrastructureEndpoints(config, listening.port));
      }
      service.http = operations;
    }
    // After the API (or the operations endpoint) listens: the callback agent takes the final list of
    // denied endpoints.
    startWorkers();
    logger.info(
      { url: service.url, store: store.kind, blobs: blobs.kind, version: SCANGATE_VERSION },
      'scangate started',
    );
    if (runsApi && config.auth.apiKeys.length === 0) {
      const stored = await store.keys.list();
      if (!stored.some((key) => !key.revokedAt)) {
        logger.warn(
          'no API key is configured: every request answers 401. Set API_KEYS=name=secret or run `scangate keys create --tenant NAME`',
        );
      }
    }
    return service;
  } catch (error) {
    await stop();
    throw error;
  }
}

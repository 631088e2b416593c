import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import type { Config } from '../config.ts';
import { CallbackDeliveryWorker, webhookSecretFactory } from '../delivery/delivery-worker.ts';
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
import type { JobStore } from '../jobs/model.ts';
import { openJobStore } from '../jobs/open-store.ts';
import { RetentionSweeper } from '../jobs/retention.ts';
import { ScanService } from '../jobs/scan-service.ts';
import { ScanWorkerPool } from '../jobs/worker.ts';
import { openBlobStore } from '../sources/open-blob-store.ts';
import { SourceOpener } from '../sources/open-source.ts';
import { createS3Client } from '../sources/s3/client.ts';
import { infrastructureEndpoints } from './infrastructure-endpoints.ts';

export interface RunningService {
  config: Config;
  logger: Logger;
  store: JobStore;
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
    const store = await openJobStore(config);
    closers.push(() => store.close());
    const blobs = await openBlobStore(config, createS3Client(config.s3));
    const engineHandle = await createEngine(config, logger);
    closers.push(() => engineHandle.close());
    const metrics = new ScanMetrics({
      queueDepth: () => store.countUnfinishedJobs(),
      engineStatus: () => engineHandle.engine.status(),
      signatures: () => engineHandle.signatures.status(),
    });
    if (engineHandle.signatures instanceof SignatureLifecycle) {
      engineHandle.signatures.on('update', (update) => metrics.recordSignatureUpdate(update));
      engineHandle.signatures.on('reload', (reload) => metrics.recordSignatureReload(reload));
    }
    const engine = metrics.meterEngine(engineHandle.engine);
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
    // Filled now and completed once the API listens (its port may be chosen by the OS).
    const deniedEndpoints = await infrastructureEndpoints(config);
    const s3 = createS3Client(config.s3);
    const sources = new SourceOpener(blobs, s3, config, logger, deniedEndpoints);
    const runnerDeps = {
      store,
      engine,
      sources,
      maxFileSizeBytes: config.limits.maxFileSizeBytes,
      verdictCache: config.engine.verdictCache,
    };
    const runsWorkers = config.role !== 'api';
    const runsApi = config.role !== 'worker';

    let workers: ScanWorkerPool | undefined;
    if (runsWorkers) {
      const delivery = new CallbackDeliveryWorker(store, config, logger.child({ component: 'delivery' }), {
        onAttempt: (outcome) => metrics.recordCallbackAttempt(outcome),
        deniedEndpoints,
      });
      workers = new ScanWorkerPool({
        ...runnerDeps,
        blobs,
        jobs: config.jobs,
        logger: logger.child({ component: 'worker' }),
        onJobFinished: (job, result, durationMs) => metrics.recordScan(job.source.kind, result, durationMs),
        onJobRetried: (_job, error) => metrics.recordRetry(error),
        onCallbackQueued: () => delivery.wake(),
      });
      const sweeper = new RetentionSweeper(
        store,
        config.jobs.resultRetentionSeconds,
        config.jobs.sweepIntervalMs,
        logger,
        blobs,
      );
      workers.start();
      delivery.start();
      sweeper.start();
      closers.push(async () => {
        sweeper.stop();
        await Promise.all([workers!.stop(), delivery.stop()]);
      });
    }

    const service: RunningService = { config, logger, store, signatures: engineHandle.signatures, stop };
    if (runsApi) {
      const scans = new ScanService({
        ...runnerDeps,
        blobs,
        maxUnfinishedJobsPerTenant: config.rateLimit.maxConcurrentJobsPerKey,
        onScanFinished: (source, result, durationMs) => metrics.recordScan(source, result, durationMs),
        ...(workers ? { notifyWorkers: () => workers.wake() } : {}),
      });
      const redis = config.rateLimit.redisUrl
        ? new Redis(config.rateLimit.redisUrl, { maxRetriesPerRequest: 2 })
        : undefined;
      if (redis) closers.push(async () => void (await redis.quit()));
      const http = await buildHttpApp({
        ...(redis ? { redis } : {}),
        config,
        logger,
        scans,
        engine,
        authenticator: new ApiKeyAuthenticator(config.auth.apiKeys, store),
        webhookSecret: (tenantId) =>
          store.getOrCreateWebhookSecret(tenantId, webhookSecretFactory(config.callbacks)),
        canary: async () => (await runCanary(engineHandle.engine)).ok,
        formatSelfTest: () => formatReport,
        deniedEndpoints,
        signatures: engineHandle.signatures,
        metrics,
      });
      // Stop accepting first, so no request is accepted after the workers stopped.
      closers.push(() => http.close());
      const address = await http.listen({ host: config.http.host, port: config.http.port });
      const listening = http.server.address();
      if (listening && typeof listening === 'object') {
        deniedEndpoints.push(...(await infrastructureEndpoints(config, listening.port)));
      }
      service.url = address;
      service.http = http;
    }
    logger.info(
      { role: config.role, url: service.url, store: store.kind, blobs: blobs.kind },
      'scangate started',
    );
    if (runsApi && config.auth.apiKeys.length === 0) {
      const stored = await store.listApiKeys();
      if (!stored.some((key) => !key.revokedAt)) {
        logger.warn(
          'no API key is configured: every request answers 401. Set API_KEYS=name=secret or run `scangate keys create <name>`',
        );
      }
    }
    return service;
  } catch (error) {
    await stop();
    throw error;
  }
}

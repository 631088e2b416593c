import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { ScanEngine } from '../engine/engine.ts';
import type { SignatureReporter } from '../engine/signature-lifecycle.ts';
import { registerErrorHandling } from './errors.ts';
import { registerMetrics, type ScanMetrics } from './metrics.ts';
import { echoRequestId, requestIdFor } from './request-id.ts';
import { operationsRoutes, type ReadinessChecks } from './routes/operations.ts';

export interface OperationsAppDependencies {
  logger: Logger;
  engine: ScanEngine;
  store: ReadinessChecks['store'];
  metrics: ScanMetrics;
  canary?: () => Promise<boolean>;
  signatures?: SignatureReporter;
  maxSignatureAgeSeconds: number;
}

/**
 * What a worker-only process serves: /healthz, /readyz and /metrics, and nothing else — no API, no
 * key. An orchestrator probes workers like API nodes, and their scan counters get scraped.
 */
export async function buildOperationsApp(deps: OperationsAppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: requestIdFor,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
  });
  registerErrorHandling(app);
  echoRequestId(app);
  registerMetrics(app, deps.metrics);
  await app.register(
    operationsRoutes({
      engine: deps.engine,
      store: deps.store,
      canary: deps.canary,
      signatures: deps.signatures,
      maxSignatureAgeSeconds: deps.maxSignatureAgeSeconds,
    }),
  );
  return app;
}

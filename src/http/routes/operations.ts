import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ScanEngine } from '../../engine/engine.ts';
import { type FormatSelfTestReport, summarizeFormatSelfTest } from '../../engine/format-self-test.ts';
import type { JobStore } from '../../jobs/model.ts';

export interface ReadinessChecks {
  engine: ScanEngine;
  store: JobStore;
  /** End-to-end proof that the engine detects: EICAR through the same scan path. */
  canary?: () => Promise<boolean>;
  formatSelfTest?: () => FormatSelfTestReport | undefined;
  /** True when the request carries a valid API key: only then does /readyz show its details. */
  isAuthenticated?: (request: FastifyRequest) => Promise<boolean>;
}

/**
 * Liveness and readiness for orchestrators; no API key needed, no tenant data exposed. Without a
 * key /readyz says only what is wrong by category (engine, store, canary) and the versions; the
 * clamd addresses (a socket path), error texts and the format self-test need a valid key.
 */
export function operationsRoutes(checks: ReadinessChecks): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

    app.get('/readyz', { schema: { hide: true } }, async (request, reply) => {
      const problems: string[] = [];
      let engineStatus: Awaited<ReturnType<ScanEngine['status']>> | undefined;
      try {
        engineStatus = await checks.engine.status();
        if (!engineStatus.addresses.some((address) => address.healthy))
          problems.push('engine: no clamd answers PING');
      } catch (error) {
        problems.push(`engine: ${(error as Error).message}`);
      }
      try {
        await checks.store.ping();
      } catch (error) {
        problems.push(`store: ${(error as Error).message}`);
      }
      if (checks.canary && problems.length === 0) {
        const detected = await checks.canary().catch(() => false);
        if (!detected) problems.push('canary: EICAR was not detected (signatures missing?)');
      }
      const signatureAgeHours = engineStatus?.signatureDate
        ? Math.round((Date.now() - engineStatus.signatureDate.getTime()) / 36e5)
        : null;
      const detailed = (await checks.isAuthenticated?.(request)) ?? false;
      const engine = {
        version: engineStatus?.engineVersion ?? null,
        signature_version: engineStatus?.signatureVersion ?? null,
        signature_age_hours: signatureAgeHours,
      };
      return reply.code(problems.length === 0 ? 200 : 503).send({
        status: problems.length === 0 ? 'ready' : 'not_ready',
        problems: detailed ? problems : problems.map((problem) => problem.replace(/:.*$/, '')),
        engine: detailed ? { ...engine, addresses: engineStatus?.addresses ?? [] } : engine,
        store: checks.store.kind,
        ...(detailed ? { formats: formatsView(checks.formatSelfTest?.()) } : {}),
      });
    });
  };
}

/** Which containers clamd reads, which scangate reports unscannable, and which pass unread. */
function formatsView(report: FormatSelfTestReport | undefined) {
  if (!report) return { status: 'pending' };
  const summary = summarizeFormatSelfTest(report);
  return {
    status: report.probeDetected && summary.blind.length === 0 ? 'ok' : 'blind_formats',
    shipped_signatures_loaded: report.probeDetected,
    readable: summary.readable,
    unsupported: summary.unsupported,
    blind: summary.blind,
    not_produced: summary.not_produced,
    errors: summary.error,
    tested_at: report.finishedAt,
  };
}

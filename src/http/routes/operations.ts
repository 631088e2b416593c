import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ScanEngine } from '../../engine/engine.ts';
import { type FormatSelfTestReport, summarizeFormatSelfTest } from '../../engine/format-self-test.ts';
import { signatureHealth } from '../../engine/signature-health.ts';
import type { SignatureReporter, SignatureUpdate } from '../../engine/signature-lifecycle.ts';
import { messageOf } from '../../errors.ts';

export interface ReadinessChecks {
  engine: ScanEngine;
  store: { kind: string; ping(): Promise<void> };
  /** End-to-end proof that the engine detects: EICAR through the same scan path. */
  canary?: () => Promise<boolean>;
  /** Where the signatures come from and how current they are (readiness fails when too old). */
  signatures?: SignatureReporter;
  maxSignatureAgeSeconds?: number;
  formatSelfTest?: () => FormatSelfTestReport | undefined;
  /** True when the request carries a valid API key: only then does /readyz show its details. */
  isAuthenticated?: (request: FastifyRequest) => Promise<boolean>;
}

/** File system paths (a socket, a directory) in readiness texts shown without a key. */
function withoutPaths(text: string): string {
  return text.replace(/(?:\/[\w.@+-]+)+\/?/g, '<path>');
}

function eventView(event: { at: Date; outcome: string; detail: string } | undefined, detailed: boolean) {
  if (!event) return null;
  return {
    at: event.at.toISOString(),
    outcome: event.outcome,
    detail: detailed ? event.detail : withoutPaths(event.detail),
  };
}

/**
 * Liveness and readiness for orchestrators; no API key needed, no tenant data exposed. Without a
 * key /readyz shows no file system path (the clamd socket, the signature directory) and no format
 * self-test; with a valid key it shows the clamd addresses, the directory and the self-test.
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
          problems.push('no clamd answers PING');
      } catch (error) {
        problems.push(`engine: ${messageOf(error)}`);
      }
      try {
        await checks.store.ping();
      } catch (error) {
        problems.push(`store: ${messageOf(error)}`);
      }
      const signatures = checks.signatures?.status();
      const maxAgeSeconds = checks.maxSignatureAgeSeconds ?? 7 * 86_400;
      const health = signatures
        ? signatureHealth(signatures, engineStatus, maxAgeSeconds)
        : { problems: [], ageSeconds: null };
      problems.push(...health.problems);
      if (checks.canary && problems.length === 0) {
        const detected = await checks.canary().catch(() => false);
        if (!detected) problems.push('canary: EICAR was not detected (signatures missing?)');
      }
      const lastUpdate: SignatureUpdate | undefined = signatures?.lastUpdate;
      const detailed = (await checks.isAuthenticated?.(request)) ?? false;
      return reply.code(problems.length === 0 ? 200 : 503).send({
        status: problems.length === 0 ? 'ready' : 'not_ready',
        problems: detailed ? problems : problems.map(withoutPaths),
        engine: {
          version: engineStatus?.engineVersion ?? null,
          signature_version: engineStatus?.signatureVersion ?? null,
          signature_age_seconds: health.ageSeconds,
          ...(detailed ? { addresses: engineStatus?.addresses ?? [] } : {}),
        },
        signatures: signatures
          ? {
              source: signatures.source,
              // The offline test database: it detects EICAR and ClamAV's test files, nothing else.
              test: signatures.test,
              database: signatures.databaseName,
              version: engineStatus?.signatureVersion ?? null,
              built_at: engineStatus?.signatureDate?.toISOString() ?? null,
              age_seconds: health.ageSeconds,
              max_age_seconds: maxAgeSeconds,
              loaded: signatures.databaseLoaded ?? null,
              ...(detailed ? { directory: signatures.directory ?? null } : {}),
              last_update: eventView(lastUpdate, detailed),
              last_successful_update_at: signatures.lastSuccessfulUpdateAt?.toISOString() ?? null,
              last_reload: eventView(signatures.lastReload, detailed),
            }
          : null,
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

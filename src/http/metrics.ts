import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineStatus, ScanEngine, ScanOptions } from '../engine/engine.ts';
import type { SignatureReload, SignatureStatus, SignatureUpdate } from '../engine/signature-lifecycle.ts';
import type { ScanOutcome } from '../engine/verdict.ts';
import { isScanGateError } from '../errors.ts';
import type { ScanResult, ScanSource } from '../scan.ts';
import type { ScanEvents } from '../scan-events.ts';

export type ScanSourceKind = ScanSource['kind'];
export type CallbackOutcome = 'delivered' | 'retry' | 'failed' | 'error';

export interface ScanMetricsOptions {
  /** Jobs queued or running, read at scrape time. */
  queueDepth?: () => Promise<number>;
  /** Engine status at scrape time, for the signature age and each clamd's health. */
  engineStatus?: () => Promise<EngineStatus>;
  /** Scan jobs this process is working on now (workers only). */
  jobsInFlight?: () => number;
  /** Labels of scangate_build_info. */
  build?: { version: string; role: string };
  /** Signature source and lifecycle, read at scrape time. */
  signatures?: () => SignatureStatus;
}

/** Failures of the engine itself; a refused or broken input (two files in a form) is the client's. */
const ENGINE_ERROR_CODES = new Set(['engine_unavailable', 'engine_error', 'engine_timeout']);

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * scangate's Prometheus metrics, in a registry of their own (several services in one process —
 * tests — never collide). Names follow `scangate_<what>_<unit>`; the observe methods are what the
 * composition root hands to the workers, the delivery worker and the scan service as hooks.
 */
export class ScanMetrics {
  readonly registry = new Registry();
  readonly #scans: Counter<'verdict' | 'source'>;
  readonly #scanDuration: Histogram<'source'>;
  readonly #scannedBytes: Counter;
  readonly #retries: Counter<'code'>;
  readonly #engineErrors: Counter<'code'>;
  readonly #callbackAttempts: Counter<'outcome'>;
  readonly #httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly #httpDuration: Histogram<'method' | 'route'>;
  readonly #signatureUpdates: Counter<'outcome'>;
  readonly #signatureReloads: Counter<'outcome'>;
  readonly #bucketObjects: Counter<'stage'>;
  readonly #bucketObjectsFinished: Counter<'outcome'>;
  readonly #bucketActions: Counter<'action' | 'outcome'>;
  readonly #bucketNotifications: Counter<'outcome'>;
  readonly #bucketNotificationRecords: Counter<'outcome'>;
  readonly #bucketSubscriptions: Counter<'outcome'>;

  constructor(options: ScanMetricsOptions = {}) {
    const registers = [this.registry];
    // The standard names (process_cpu_seconds_total, nodejs_heap_size_used_bytes…) dashboards expect.
    collectDefaultMetrics({ register: this.registry });
    this.#scans = new Counter({
      name: 'scangate_scans_total',
      help: 'Scans finished, by verdict (clean, infected, unscannable, blocked) and source (upload, url, s3)',
      labelNames: ['verdict', 'source'],
      registers,
    });
    this.#scanDuration = new Histogram({
      name: 'scangate_scan_duration_seconds',
      help: 'Time from the start of a scan (download or staged read included) to its verdict',
      labelNames: ['source'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#scannedBytes = new Counter({
      name: 'scangate_scanned_bytes_total',
      help: 'Bytes streamed through the engine (verdict-cache hits excluded)',
      registers,
    });
    this.#retries = new Counter({
      name: 'scangate_scan_retries_total',
      help: 'Scan attempts that failed and were queued again, by error code',
      labelNames: ['code'],
      registers,
    });
    this.#engineErrors = new Counter({
      name: 'scangate_engine_errors_total',
      help: 'Engine failures (clamd unreachable, timed out or answering ERROR), by error code',
      labelNames: ['code'],
      registers,
    });
    this.#callbackAttempts = new Counter({
      name: 'scangate_callback_attempts_total',
      help: 'Callback POSTs, by outcome (delivered, retry, failed: given up for good, error)',
      labelNames: ['outcome'],
      registers,
    });
    this.#httpRequests = new Counter({
      name: 'scangate_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.#httpDuration = new Histogram({
      name: 'scangate_http_request_duration_seconds',
      help: 'Time to answer an HTTP request (uploads included), by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#signatureUpdates = new Counter({
      name: 'scangate_signature_updates_total',
      help: 'freshclam runs by outcome (updated, up_to_date, failed: the last good database stays)',
      labelNames: ['outcome'],
      registers,
    });
    this.#signatureReloads = new Counter({
      name: 'scangate_signature_reloads_total',
      help: 'Databases clamd activated (loaded, reloaded) or refused (failed: it keeps the previous one)',
      labelNames: ['outcome'],
      registers,
    });
    this.#bucketObjects = new Counter({
      name: 'scangate_bucket_objects_total',
      help: 'Bucket scan objects by stage: listed (recorded from a listing page, a watch pass or an event) and queued (submitted as scan jobs)',
      labelNames: ['stage'],
      registers,
    });
    this.#bucketObjectsFinished = new Counter({
      name: 'scangate_bucket_objects_finished_total',
      help: 'Bucket scan objects settled, by outcome (clean, infected, unscannable, blocked, skipped, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.#bucketActions = new Counter({
      name: 'scangate_bucket_actions_total',
      help: 'Actions on bucket objects (tag, delete, quarantine, rescan, skip), by outcome (ok, failed)',
      labelNames: ['action', 'outcome'],
      registers,
    });
    this.#bucketNotifications = new Counter({
      name: 'scangate_bucket_notifications_total',
      help: 'S3 event notification deliveries, by outcome (accepted, refused: not granted or not an event)',
      labelNames: ['outcome'],
      registers,
    });
    this.#bucketNotificationRecords = new Counter({
      name: 'scangate_bucket_notification_records_total',
      help: 'Records of accepted S3 event notifications, by outcome (queued, duplicate: delivered before, ignored: not a creation)',
      labelNames: ['outcome'],
      registers,
    });
    this.#bucketSubscriptions = new Counter({
      name: 'scangate_bucket_sns_subscriptions_total',
      help: 'SNS subscription confirmations, by outcome (confirmed, refused: topic not allowed or bad signature)',
      labelNames: ['outcome'],
      registers,
    });
    for (const stage of ['listed', 'queued']) this.#bucketObjects.inc({ stage }, 0);
    const { queueDepth, engineStatus, signatures, jobsInFlight, build } = options;
    if (build) {
      new Gauge({
        name: 'scangate_build_info',
        help: 'Always 1; the labels say which scangate runs here',
        labelNames: ['version', 'node_version', 'role'],
        registers,
      }).set({ version: build.version, node_version: process.versions.node, role: build.role }, 1);
    }
    if (jobsInFlight) {
      new Gauge({
        name: 'scangate_jobs_in_flight',
        help: 'Scan jobs this process is scanning now',
        registers,
        collect() {
          this.set(jobsInFlight());
        },
      });
    }
    if (queueDepth) {
      new Gauge({
        name: 'scangate_queue_depth',
        help: 'Scan jobs queued or running (all tenants); NaN when the store cannot be read',
        registers,
        async collect() {
          this.set(await queueDepth().catch(() => Number.NaN));
        },
      });
    }
    if (engineStatus) {
      new Gauge({
        name: 'scangate_signature_age_seconds',
        help: "Age in seconds of the newest loaded signature database, from clamd's VERSION (NaN when it reports no date)",
        registers,
        async collect() {
          const status = await engineStatus().catch(() => undefined);
          const date = status?.signatureDate;
          this.set(date ? Math.max(0, Math.round((Date.now() - date.getTime()) / 1000)) : Number.NaN);
        },
      });
      new Gauge({
        name: 'scangate_signature_version',
        help: "Version of the loaded daily database, from clamd's VERSION (NaN when it reports none)",
        registers,
        async collect() {
          const version = (await engineStatus().catch(() => undefined))?.signatureVersion;
          this.set(version ? Number(version) : Number.NaN);
        },
      });
      new Gauge({
        name: 'scangate_clamd_up',
        help: 'Whether each clamd answered its last PING (1) or not (0)',
        labelNames: ['address'],
        registers,
        async collect() {
          const status = await engineStatus().catch(() => undefined);
          this.reset();
          for (const address of status?.addresses ?? [])
            this.set({ address: address.address }, address.healthy ? 1 : 0);
        },
      });
    }
    if (signatures) {
      new Gauge({
        name: 'scangate_signatures_test',
        help: '1 when the offline test database is in use (SIGNATURES=test: EICAR and ClamAV test files only)',
        registers,
        collect() {
          this.set(signatures().test ? 1 : 0);
        },
      });
      new Gauge({
        name: 'scangate_signature_database_loaded',
        help: '1 when the managed clamd has a database loaded, 0 while it waits for one (NaN: external clamd)',
        registers,
        collect() {
          const loaded = signatures().databaseLoaded;
          this.set(loaded === undefined ? Number.NaN : loaded ? 1 : 0);
        },
      });
      new Gauge({
        name: 'scangate_signature_last_success_timestamp_seconds',
        help: 'Unix time of the last successful freshclam run (NaN when none yet)',
        registers,
        collect() {
          const at = signatures().lastSuccessfulUpdateAt;
          this.set(at ? Math.round(at.getTime() / 1000) : Number.NaN);
        },
      });
    }
  }

  /** Counts what the workers, the scan service and the delivery worker report. */
  observe(events: ScanEvents): void {
    events.on('scan:finished', ({ source, result, durationMs }) =>
      this.recordScan(source, result, durationMs),
    );
    events.on('scan:retried', ({ error }) => this.recordRetry(error));
    events.on('callback:attempt', ({ outcome }) => this.recordCallbackAttempt(outcome));
    events.on('bucket:objects', ({ stage, count }) => this.#bucketObjects.inc({ stage }, count));
    events.on('bucket:settled', ({ outcome }) => this.#bucketObjectsFinished.inc({ outcome }));
    events.on('bucket:action', ({ action, ok }) =>
      this.#bucketActions.inc({ action, outcome: ok ? 'ok' : 'failed' }),
    );
    events.on('bucket:notification', ({ outcome, records }) => {
      this.#bucketNotifications.inc({ outcome });
      if (!records) return;
      this.#bucketNotificationRecords.inc({ outcome: 'queued' }, records.queued);
      this.#bucketNotificationRecords.inc({ outcome: 'duplicate' }, records.duplicates);
      this.#bucketNotificationRecords.inc({ outcome: 'ignored' }, records.ignored);
    });
    events.on('bucket:subscription', ({ outcome }) => this.#bucketSubscriptions.inc({ outcome }));
  }

  /** A verdict stored by a worker or answered by a synchronous scan. */
  recordScan(source: ScanSourceKind, result: ScanResult, durationMs: number): void {
    this.#scans.inc({ verdict: result.status, source });
    this.#scanDuration.observe({ source }, durationMs / 1000);
  }

  recordSignatureUpdate(update: SignatureUpdate): void {
    this.#signatureUpdates.inc({ outcome: update.outcome });
  }

  recordSignatureReload(reload: SignatureReload): void {
    this.#signatureReloads.inc({ outcome: reload.outcome });
  }

  recordRetry(error: unknown): void {
    this.#retries.inc({ code: errorCode(error) });
  }

  recordCallbackAttempt(outcome: CallbackOutcome): void {
    this.#callbackAttempts.inc({ outcome });
  }

  recordHttpRequest(method: string, route: string, status: number, seconds: number): void {
    this.#httpRequests.inc({ method, route, status: String(status) });
    this.#httpDuration.observe({ method, route }, seconds);
  }

  /** Wraps an engine so that every scan counts its bytes and every engine failure its code. */
  meterEngine(engine: ScanEngine): ScanEngine {
    const scannedBytes = this.#scannedBytes;
    const engineErrors = this.#engineErrors;
    return {
      async scan(input: Readable, options: ScanOptions): Promise<ScanOutcome> {
        let outcome: ScanOutcome;
        try {
          outcome = await engine.scan(input, options);
        } catch (error) {
          // A scan cancelled by its caller (client gone, lease lost, shutdown) is not an engine fault.
          const code = errorCode(error);
          if (!options.signal?.aborted && ENGINE_ERROR_CODES.has(code)) engineErrors.inc({ code });
          throw error;
        }
        scannedBytes.inc(outcome.size);
        if (outcome.verdict.reason === 'engine_error') engineErrors.inc({ code: 'engine_error' });
        return outcome;
      },
      status: () => engine.status(),
      // Asked before every cached-verdict lookup: when clamd is down, this is where it shows first.
      async verdictCacheKey(options?: { fresh?: boolean }): Promise<string> {
        try {
          return await engine.verdictCacheKey(options);
        } catch (error) {
          engineErrors.inc({ code: errorCode(error) });
          throw error;
        }
      },
      close: () => engine.close(),
    };
  }
}

function errorCode(error: unknown): string {
  return isScanGateError(error) ? error.code : 'unknown';
}

/**
 * Serves GET /metrics (Prometheus text format) and counts every HTTP answer. Like /healthz it needs
 * no API key and shows no tenant data, but it reveals traffic and load: expose it to the scraper's
 * network only, never publicly.
 */
export function registerMetrics(app: FastifyInstance, metrics: ScanMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    // Route patterns (/v1/scans/:id), never raw URLs: label values must stay few.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.recordHttpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
}

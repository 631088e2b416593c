import { randomUUID } from 'node:crypto';
import {
  type BucketActions,
  type BucketObject,
  type BucketObjectFilter,
  type BucketScan,
  DEFAULT_BUCKET_ACTIONS,
  type SightedObject,
} from '../../bucket-scan.ts';
import { ScanGateError } from '../../errors.ts';
import type { ScanEvents } from '../../scan-events.ts';
import type { BucketScanStore, JobQueueStore } from '../../store/contracts.ts';
import { eventDedupeKey, parseS3Notification } from './events.ts';
import type { BucketGrants } from './grants.ts';

export interface BucketScanRequest {
  bucket: string;
  prefix?: string;
  since?: Date;
  actions?: BucketActions;
}

export interface WatchRequest extends BucketScanRequest {
  intervalMs: number;
}

export interface NotificationOutcome {
  /** Objects new to scangate, now queued. */
  queued: number;
  /** Deliveries of an event already received (retried notifications). */
  duplicates: number;
  /** Records that were not object creations. */
  ignored: number;
}

export interface BucketScanServiceDependencies {
  buckets: BucketScanStore;
  jobs: JobQueueStore;
  grants: BucketGrants;
  /** A scan was created or objects arrived: a local walker can start now. */
  notifyWalker?: () => void;
  notifyWorkers?: () => void;
  /** Where notifications received are reported (metrics). */
  events?: ScanEvents;
}

/** What the HTTP layer asks of bucket scans; every call is on behalf of one tenant. */
export class BucketScanService {
  readonly #deps: BucketScanServiceDependencies;

  constructor(dependencies: BucketScanServiceDependencies) {
    this.#deps = dependencies;
  }

  async startScan(tenantId: string, request: BucketScanRequest): Promise<BucketScan> {
    return this.#create(tenantId, 'scan', request);
  }

  async startWatch(tenantId: string, request: WatchRequest): Promise<BucketScan> {
    return this.#create(tenantId, 'watch', request, request.intervalMs);
  }

  async #create(
    tenantId: string,
    origin: 'scan' | 'watch',
    request: BucketScanRequest,
    watchIntervalMs?: number,
  ): Promise<BucketScan> {
    const prefix = request.prefix ?? '';
    this.#deps.grants.check(tenantId, request.bucket, prefix);
    const actions = request.actions ?? (await this.actionsFor(tenantId));
    this.#checkActions(tenantId, actions);
    const scan = await this.#deps.buckets.createScan({
      id: randomUUID(),
      tenantId,
      origin,
      bucket: request.bucket,
      prefix,
      actions,
      ...(request.since ? { since: request.since } : {}),
      ...(watchIntervalMs !== undefined ? { watchIntervalMs } : {}),
    });
    this.#deps.notifyWalker?.();
    return scan;
  }

  #checkActions(tenantId: string, actions: BucketActions): void {
    if (actions.infected === 'quarantine') {
      if (!actions.quarantine) {
        throw new ScanGateError('invalid_request', 'infected: "quarantine" needs a quarantine location');
      }
      this.#deps.grants.check(tenantId, actions.quarantine.bucket, actions.quarantine.prefix);
    }
  }

  /** The tenant's default actions, or scangate's (tag, leave infected objects in place). */
  async actionsFor(tenantId: string): Promise<BucketActions> {
    return (await this.#deps.buckets.getTenantActions(tenantId)) ?? DEFAULT_BUCKET_ACTIONS;
  }

  async setTenantActions(tenantId: string, actions: BucketActions): Promise<BucketActions> {
    this.#checkActions(tenantId, actions);
    await this.#deps.buckets.putTenantActions(tenantId, actions);
    return actions;
  }

  async get(tenantId: string, id: string): Promise<BucketScan> {
    const scan = await this.#deps.buckets.getScan(tenantId, id);
    if (!scan) throw new ScanGateError('not_found', `no bucket scan ${id}`);
    return scan;
  }

  list(tenantId: string, limit: number): Promise<BucketScan[]> {
    return this.#deps.buckets.listScans(tenantId, limit);
  }

  async objects(tenantId: string, id: string, filter: BucketObjectFilter): Promise<BucketObject[]> {
    await this.get(tenantId, id);
    return this.#deps.buckets.listObjects(tenantId, id, filter);
  }

  async setPaused(tenantId: string, id: string, paused: boolean): Promise<BucketScan> {
    const scan = await this.#deps.buckets.setPaused(tenantId, id, paused);
    if (scan) {
      this.#deps.notifyWalker?.();
      return scan;
    }
    await this.get(tenantId, id);
    throw new ScanGateError('scan_not_running', `bucket scan ${id} is not running`);
  }

  async cancel(tenantId: string, id: string): Promise<BucketScan> {
    const scan = await this.#deps.buckets.cancelScan(tenantId, id);
    if (scan) return scan;
    await this.get(tenantId, id);
    throw new ScanGateError('scan_not_running', `bucket scan ${id} is not running`);
  }

  /** The bucket object a job scanned, with the actions taken on its verdict. */
  objectForJob(tenantId: string, jobId: string): Promise<BucketObject | undefined> {
    return this.#deps.buckets.objectForJob(tenantId, jobId);
  }

  /**
   * S3 event notifications: every object-created record of a granted bucket is recorded in the
   * tenant's inbox for that bucket (idempotent by key + version + sequencer) and queued. A record
   * for a bucket the tenant is not granted refuses the whole delivery, before anything is queued.
   */
  async receiveNotification(tenantId: string, body: unknown): Promise<NotificationOutcome> {
    let outcome: NotificationOutcome;
    try {
      outcome = await this.#recordNotification(tenantId, body);
    } catch (error) {
      if (error instanceof ScanGateError && !error.retryable)
        this.#deps.events?.emit('bucket:notification', { outcome: 'refused' });
      throw error;
    }
    this.#deps.events?.emit('bucket:notification', { outcome: 'accepted', records: outcome });
    if (outcome.queued > 0)
      this.#deps.events?.emit('bucket:objects', { stage: 'listed', count: outcome.queued });
    return outcome;
  }

  async #recordNotification(tenantId: string, body: unknown): Promise<NotificationOutcome> {
    const { buckets, grants } = this.#deps;
    const parsed = parseS3Notification(body);
    for (const event of parsed.created) grants.check(tenantId, event.bucket, event.key);
    const byBucket = Map.groupBy(parsed.created, (event) => event.bucket);
    const outcome: NotificationOutcome = { queued: 0, duplicates: 0, ignored: parsed.ignored };
    const defaults = byBucket.size > 0 ? await this.actionsFor(tenantId) : DEFAULT_BUCKET_ACTIONS;
    for (const [bucket, events] of byBucket) {
      const inbox = await buckets.eventInbox(tenantId, bucket, () => ({
        id: randomUUID(),
        tenantId,
        origin: 'events',
        bucket,
        prefix: '',
        actions: defaults,
      }));
      const sightings = events.map((event): SightedObject => {
        const sighting: SightedObject = {
          key: event.key,
          size: event.size,
          dedupeKey: eventDedupeKey(event),
          jobId: randomUUID(),
        };
        if (event.versionId) sighting.versionId = event.versionId;
        if (event.etag) sighting.etag = event.etag;
        return sighting;
      });
      const fresh = await buckets.recordSightings(inbox.id, sightings);
      outcome.queued += fresh.length;
      outcome.duplicates += sightings.length - fresh.length;
    }
    if (outcome.queued > 0) this.#deps.notifyWalker?.();
    return outcome;
  }
}

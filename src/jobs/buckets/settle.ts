import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BucketActionRecord, BucketScan, ObjectToSettle } from '../../bucket-scan.ts';
import type { Logger } from '../../logger.ts';
import type { ScanResult } from '../../scan.ts';
import type { ScanEvents } from '../../scan-events.ts';
import type { BucketScanStore, JobQueueStore } from '../../store/contracts.ts';
import type { ObjectActions, ObjectRef } from './object-actions.ts';
import { OWNED_TAG_KEYS, verdictTags } from './tags.ts';

export interface SettleContext {
  scan: BucketScan;
  leaseToken: string;
  buckets: BucketScanStore;
  jobs: JobQueueStore;
  s3: S3Client;
  actions: ObjectActions;
  settings: { maxScansPerObject: number };
  logger: Logger;
  events?: ScanEvents | undefined;
}

/** Reports a settled object and the actions taken on it (metrics subscribe). */
function reportSettled(
  events: ScanEvents | undefined,
  outcome: string,
  done: readonly BucketActionRecord[],
): void {
  if (!events) return;
  for (const record of done) events.emit('bucket:action', { action: record.action, ok: record.ok });
  events.emit('bucket:settled', { outcome });
}

function note(
  action: BucketActionRecord['action'],
  ok: boolean,
  detail: string,
  jobId?: string,
): BucketActionRecord {
  const record: BucketActionRecord = { action, ok, at: new Date().toISOString(), detail };
  if (jobId) record.jobId = jobId;
  return record;
}

/** A verdict that calls for the infected-object action: anything judged and not clean. */
function isHarmful(result: ScanResult): boolean {
  return result.status !== 'clean' && result.status !== 'unscannable';
}

/**
 * Acts on one finished object: checks it is still the object that was scanned (same ETag), tags
 * it, deletes or quarantines it when infected, and records every action. An object that changed
 * since it was listed is scanned again instead of getting a verdict about other bytes; one deleted
 * meanwhile is skipped. S3 failures that may pass (throttling, 5xx) are thrown, leaving the object
 * queued for the next step.
 */
export async function settleObject(ready: ObjectToSettle, context: SettleContext): Promise<void> {
  const { scan, leaseToken, buckets, actions, logger } = context;
  const { object, result } = ready;
  const previous = object.actions;
  const settle = async (outcome: string, done: BucketActionRecord[], finding?: string) => {
    const settled = await buckets.settleObject(scan.id, leaseToken, object.seq, {
      outcome,
      actions: [...previous, ...done],
      size: object.size,
      ...(finding ? { finding } : {}),
    });
    if (settled) reportSettled(context.events, outcome, done);
    return settled;
  };

  if (!result) {
    // Swept by retention while the scan was paused, or deleted: scanned again rather than lost.
    await rescanOrFail(
      ready,
      context,
      object.etag,
      object.versionId,
      'job_missing: its scan job no longer exists',
    );
    return;
  }
  const ref: ObjectRef = { bucket: scan.bucket, key: object.key };
  if (object.versionId) ref.versionId = object.versionId;

  // Without a version id the job read whatever was current: compare what it read with what was
  // listed. GetObject told the job which ETag it served; only a job that did not record it (stored
  // by an older scangate) costs a HEAD here.
  const served = result.s3Object;
  const before = served?.etag !== undefined ? served : await actions.head(ref);
  if (!before) {
    await settle('skipped', [
      note('skip', true, 'object_gone: deleted before its verdict was applied', object.jobId),
    ]);
    return;
  }
  if (!object.versionId && object.etag && before.etag !== object.etag) {
    await rescanOrFail(ready, context, before.etag, before.versionId, 'changed between listing and verdict');
    return;
  }
  // Pin every action to the version that matched, so a newer upload is never tagged or deleted.
  if (!ref.versionId && before.versionId) ref.versionId = before.versionId;

  const done: BucketActionRecord[] = [];
  const style = scan.actions.tag;
  const tags =
    style === 'none'
      ? undefined
      : { tags: verdictTags(style, result, new Date()), owned: OWNED_TAG_KEYS[style] };
  if (tags) {
    // An object read with no tags has none of anyone else's to keep: no need to read them first.
    const knownTags = served?.tagCount === 0 ? [] : undefined;
    const tagged = await actions.tag(ref, tags.tags, tags.owned, knownTags);
    if (tagged.action === 'skip') {
      // Deleted after it was scanned (a tag write on a missing key finds nothing to tag).
      await settle('skipped', [{ ...tagged, jobId: object.jobId }]);
      return;
    }
    tagged.jobId = object.jobId;
    done.push(tagged);
    if (!ref.versionId && object.etag) {
      // Tags belong to the object version, and a new upload carries its own: written around our
      // tag, it would wear a stale verdict. Checked again after writing, then rescanned if so.
      const after = await actions.head(ref);
      if (after && after.etag !== object.etag) {
        await rescanOrFail(ready, context, after.etag, after.versionId, 'changed while it was tagged');
        return;
      }
    }
  }
  if (isHarmful(result)) {
    if (scan.actions.infected === 'delete') done.push(await actions.delete(ref));
    else if (scan.actions.infected === 'quarantine' && scan.actions.quarantine) {
      done.push(await actions.quarantine(ref, scan.actions.quarantine, tags));
    }
  }
  for (const record of done) record.jobId ??= object.jobId;
  if (!(await settle(result.status, done, result.finding))) {
    logger.warn({ bucketScanId: scan.id, key: object.key }, 'object settled elsewhere or lease lost');
  }
}

async function rescanOrFail(
  { object }: ObjectToSettle,
  context: SettleContext,
  etag: string | undefined,
  versionId: string | undefined,
  why: string,
): Promise<void> {
  const { scan, leaseToken, buckets, settings } = context;
  if (object.scanAttempts >= settings.maxScansPerObject) {
    const gaveUp = note(
      'skip',
      false,
      `object_unstable: ${why}, after ${object.scanAttempts} scans`,
      object.jobId,
    );
    const settled = await buckets.settleObject(scan.id, leaseToken, object.seq, {
      outcome: 'failed',
      actions: [...object.actions, gaveUp],
      size: object.size,
    });
    if (settled) reportSettled(context.events, 'failed', [gaveUp]);
    return;
  }
  const next: { jobId: string; etag?: string; versionId?: string; action: BucketActionRecord } = {
    jobId: randomUUID(),
    action: note(
      'rescan',
      true,
      etag === object.etag ? why : `${why} (ETag ${object.etag ?? '?'} → ${etag ?? '?'})`,
      object.jobId,
    ),
  };
  if (etag) next.etag = etag;
  if (versionId) next.versionId = versionId;
  await buckets.requeueObject(scan.id, leaseToken, object.seq, next);
  context.events?.emit('bucket:action', { action: 'rescan', ok: true });
}

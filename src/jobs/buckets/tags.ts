import type { BucketActions } from '../../bucket-scan.ts';

export interface ObjectTag {
  Key: string;
  Value: string;
}

/** S3 allows at most 10 tags on an object. */
export const MAX_OBJECT_TAGS = 10;
const MAX_TAG_VALUE = 256;

/**
 * The tag keys each style owns: only these are replaced, every other tag of the object is kept.
 * bucketAV marks a scanned object with one tag, `bucketav`, valued `clean`, `infected` or `no`
 * (its API's own status words), so lifecycle and access rules written for bucketAV keep working.
 */
export const OWNED_TAG_KEYS: Record<Exclude<BucketActions['tag'], 'none'>, readonly string[]> = {
  scangate: ['scangate-status', 'scangate-finding', 'scangate-scanned-at'],
  bucketav: ['bucketav'],
};

/** S3 tag values allow letters, digits, spaces and `_ . : / = + - @`; anything else becomes `_`. */
export function tagValue(text: string): string {
  return text.replaceAll(/[^\p{L}\p{N}\s_.:/=+\-@]/gu, '_').slice(0, MAX_TAG_VALUE);
}

/** bucketAV's word for a verdict: anything not clean or infected is `no` (could not be judged). */
function bucketAvStatus(outcome: string): string {
  if (outcome === 'clean') return 'clean';
  if (outcome === 'unscannable') return 'no';
  return 'infected';
}

/** The tags scangate writes for a verdict, in the given style. */
export function verdictTags(
  style: Exclude<BucketActions['tag'], 'none'>,
  verdict: { status: string; finding?: string },
  scannedAt: Date,
): ObjectTag[] {
  if (style === 'bucketav') return [{ Key: 'bucketav', Value: bucketAvStatus(verdict.status) }];
  const tags: ObjectTag[] = [
    { Key: 'scangate-status', Value: tagValue(verdict.status) },
    { Key: 'scangate-scanned-at', Value: scannedAt.toISOString() },
  ];
  if (verdict.finding) tags.splice(1, 0, { Key: 'scangate-finding', Value: tagValue(verdict.finding) });
  return tags;
}

/** The object's other tags, in their order, followed by ours (an old finding of ours is dropped). */
export function mergeTags(
  existing: readonly ObjectTag[],
  ours: readonly ObjectTag[],
  owned: readonly string[],
): ObjectTag[] {
  return [...existing.filter((tag) => !owned.includes(tag.Key)), ...ours];
}

/** Same keys with the same values, in any order. */
export function sameTagSet(a: readonly ObjectTag[], b: readonly ObjectTag[]): boolean {
  if (a.length !== b.length) return false;
  const values = new Map(a.map((tag) => [tag.Key, tag.Value]));
  return b.every((tag) => values.get(tag.Key) === tag.Value);
}

import type { EngineStatus } from './engine.ts';
import type { SignatureStatus } from './signature-lifecycle.ts';

export interface SignatureHealth {
  /** Why the service must not be ready because of its signatures (empty when it may). */
  problems: string[];
  /** Age of the newest loaded database, from clamd's VERSION (never file times); null when unknown. */
  ageSeconds: number | null;
}

/** `3.2 days`, `5.0 hours`, `12 minutes`. */
export function formatDuration(seconds: number): string {
  if (seconds >= 2 * 86_400) return `${(seconds / 86_400).toFixed(1)} days`;
  if (seconds >= 2 * 3600) return `${(seconds / 3600).toFixed(1)} hours`;
  return `${Math.round(seconds / 60)} minutes`;
}

/**
 * Pure: readiness as far as signatures go. Not ready while no database is loaded, and when the
 * loaded one is older than maxAgeSeconds; a failed update alone keeps readiness (the last good
 * database is still loaded) until that database grows too old.
 */
export function signatureHealth(
  signatures: SignatureStatus,
  engine: Pick<EngineStatus, 'signatureDate'> | undefined,
  maxAgeSeconds: number,
  now = Date.now(),
): SignatureHealth {
  const problems: string[] = [];
  const failedUpdate =
    signatures.lastUpdate?.outcome === 'failed'
      ? `; last update failed: ${signatures.lastUpdate.detail}`
      : '';
  if (signatures.databaseLoaded === false) {
    problems.push(
      `no signature database loaded: waiting for ${signatures.waitingFor ?? 'one'}${failedUpdate}`,
    );
  }
  const date = engine?.signatureDate;
  const ageSeconds = date ? Math.max(0, Math.round((now - date.getTime()) / 1000)) : null;
  if (ageSeconds !== null && ageSeconds > maxAgeSeconds) {
    problems.push(
      `signature database is ${formatDuration(ageSeconds)} old (built ${date!.toISOString()}; MAX_SIGNATURE_AGE is ${formatDuration(maxAgeSeconds)})${failedUpdate}`,
    );
  }
  return { problems, ageSeconds };
}

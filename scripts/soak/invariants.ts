import type { ReceivedCallback } from './local-servers.ts';
import type { JobState, SubmittedJob } from './traffic.ts';

export interface SoakObservations {
  submitted: SubmittedJob[];
  /** Final state of each submitted job, by trace id, after the drain. */
  finalStates: Map<string, JobState>;
  callbacks: ReceivedCallback[];
  /** Stored verdicts per job id, from the service logs of every incarnation. */
  verdictsLogged: Map<string, number>;
  /** Files left in the staging directory once the queue drained and the service stopped. */
  stagedFilesLeft: string[];
}

export interface InvariantReport {
  jobsLost: number;
  duplicateVerdicts: number;
  wrongVerdicts: number;
  callbacksExpected: number;
  callbacksLost: number;
  duplicateCallbackDeliveries: number;
  callbackStatusMismatches: number;
  invalidSignatures: number;
  leakedBlobs: number;
  verdicts: Record<string, number>;
  unscannableReasons: Record<string, number>;
  /** One line per broken invariant; empty when the run kept every promise. */
  failures: string[];
}

const CALLBACK_STATUS = { clean: 'clean', infected: 'infected', unscannable: 'no' } as const;

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/**
 * The promises a soak run checks: every acknowledged job has exactly one final verdict, EICAR is
 * never clean, every callback is delivered at least once (redeliveries are allowed: same
 * webhook-id), signatures verify, and no staged upload outlives its job.
 */
export function checkInvariants(observed: SoakObservations): InvariantReport {
  const verdicts: Record<string, number> = {};
  const unscannableReasons: Record<string, number> = {};
  const accepted = observed.callbacks.filter((entry) => entry.answeredWith < 300);
  const acceptedByTrace = new Map<string, ReceivedCallback[]>();
  for (const entry of accepted) {
    if (!entry.traceId) continue;
    acceptedByTrace.set(entry.traceId, [...(acceptedByTrace.get(entry.traceId) ?? []), entry]);
  }
  let jobsLost = 0;
  let wrongVerdicts = 0;
  let callbacksLost = 0;
  let callbackStatusMismatches = 0;
  let duplicateVerdicts = [...observed.verdictsLogged.values()].filter((count) => count > 1).length;
  const failures: string[] = [];
  for (const job of observed.submitted) {
    const state = observed.finalStates.get(job.traceId);
    if (state?.state !== 'done') {
      jobsLost++;
      failures.push(`job ${job.traceId} (${job.kind}) has no verdict: ${state?.state ?? 'never checked'}`);
      continue;
    }
    increment(verdicts, state.status);
    if (state.status === 'unscannable') increment(unscannableReasons, state.reason ?? 'unknown');
    if ((job.infected && state.status === 'clean') || (!job.infected && state.status === 'infected')) {
      wrongVerdicts++;
      failures.push(`job ${job.traceId}: ${job.infected ? 'EICAR' : 'clean input'} judged ${state.status}`);
    }
    if (!job.callback) continue;
    const deliveries = acceptedByTrace.get(job.traceId) ?? [];
    if (deliveries.length === 0) {
      callbacksLost++;
      failures.push(`job ${job.traceId}: callback never delivered`);
    }
    if (new Set(deliveries.map((entry) => entry.webhookId)).size > 1) {
      duplicateVerdicts++;
      failures.push(`job ${job.traceId}: callbacks for more than one verdict (several webhook-ids)`);
    }
    if (deliveries.some((entry) => entry.status !== CALLBACK_STATUS[state.status])) {
      callbackStatusMismatches++;
      failures.push(`job ${job.traceId}: callback status differs from the stored verdict ${state.status}`);
    }
  }
  for (const [jobId, count] of observed.verdictsLogged) {
    if (count > 1) failures.push(`job ${jobId}: ${count} verdicts stored`);
  }
  const invalidSignatures = observed.callbacks.filter((entry) => !entry.signatureValid).length;
  if (invalidSignatures > 0) failures.push(`${invalidSignatures} callbacks with an invalid signature`);
  const leakedBlobs = observed.stagedFilesLeft.length;
  if (leakedBlobs > 0) failures.push(`staged uploads left behind: ${observed.stagedFilesLeft.join(', ')}`);
  return {
    jobsLost,
    duplicateVerdicts,
    wrongVerdicts,
    callbacksExpected: observed.submitted.filter((job) => job.callback).length,
    callbacksLost,
    duplicateCallbackDeliveries: accepted.length - new Set(accepted.map((entry) => entry.webhookId)).size,
    callbackStatusMismatches,
    invalidSignatures,
    leakedBlobs,
    verdicts,
    unscannableReasons,
    failures,
  };
}

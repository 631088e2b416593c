import { setTimeout as sleep } from 'node:timers/promises';
import type { CallbackReceiver } from './local-servers.ts';
import type { JobState, SubmittedJob, Traffic } from './traffic.ts';

/**
 * Waits until every acknowledged job has a final verdict and every callback job's callback was
 * accepted by the receiver, or until the deadline. Polls like a client: through the API.
 */
export async function drain(
  traffic: Traffic,
  receiver: CallbackReceiver,
  timeoutMs: number,
  log: (message: string) => void,
): Promise<Map<string, JobState>> {
  const states = new Map<string, JobState>();
  const deadline = Date.now() + timeoutMs;
  let open: SubmittedJob[] = [...traffic.submitted];
  for (;;) {
    const stillOpen: SubmittedJob[] = [];
    for (const job of open) {
      const state = await traffic.stateOf(job).catch((): JobState => ({ state: 'pending' }));
      states.set(job.traceId, state);
      if (state.state !== 'done') stillOpen.push(job);
    }
    open = stillOpen;
    const delivered = new Set(receiver.accepted().map((entry) => entry.traceId));
    const waitingCallbacks = traffic.submitted.filter((job) => job.callback && !delivered.has(job.traceId));
    if (open.length === 0 && waitingCallbacks.length === 0) return states;
    if (Date.now() > deadline) {
      log(
        `drain timed out: ${open.length} jobs without verdict, ${waitingCallbacks.length} callbacks missing`,
      );
      return states;
    }
    await sleep(1000);
  }
}

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ContentInspector } from '../src/policy/inspector.ts';
import { POLICY_SWITCHES } from '../src/policy/policy.ts';
import { memoryPayload, type Payload } from './data.ts';
import type { ScangateClient } from './scangate-client.ts';
import { type LatencySummary, round, roundRate, runConcurrently, summarize } from './stats.ts';

/** Every switch on, every type allowed: random data stays clean, so both rounds do the same work. */
const POLICY_ON = JSON.stringify({ block: POLICY_SWITCHES });
const CONCURRENCY = 4;
const INSPECTOR_BYTES = 64 * 1024 * 1024;
const CHUNK = 64 * 1024;

export interface PolicyRun {
  content: 'binary' | 'text';
  policy: 'default' | 'all switches on';
  files: number;
  filesPerSecond: number;
  mbPerSecond: number;
  latency: LatencySummary;
  verdicts: Record<string, number>;
}

export interface PolicyResult {
  fileBytes: number;
  files: number;
  concurrency: number;
  runs: PolicyRun[];
  /** files/s with every switch on over the default policy, per content kind (1.0 = free). */
  ratio: Record<PolicyRun['content'], number | null>;
  /** The content inspection alone, in this process, over 64 MiB in 64 KiB chunks. */
  inspectorMBps: Record<PolicyRun['content'], number>;
}

/** Prose-like text: the worst case for the inspector, which searches text for `<script` and entities. */
function textBytes(size: number, seed: Buffer): Buffer {
  const words = ['report', 'invoice', 'total', 'the', 'of', 'and', 'payment', 'due', 'customer', 'line'];
  const parts: string[] = [seed.toString('hex'), ' '];
  let length = 34;
  let index = 0;
  while (length < size) {
    const word = words[(seed[index % seed.length]! + index) % words.length]!;
    parts.push(word, index % 12 === 11 ? '\n' : ' ');
    length += word.length + 1;
    index++;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

export function policyPayloads(content: PolicyRun['content'], files: number, fileBytes: number): Payload[] {
  return Array.from({ length: files }, () => {
    const seed = randomBytes(16);
    const bytes = content === 'text' ? textBytes(fileBytes, seed) : randomBytes(fileBytes);
    // Pin random data to "binary data" for clamd (see reference/clamav.md §7).
    if (content === 'binary') bytes.set([0x00, 0x01], 2);
    return memoryPayload(bytes);
  });
}

/** How fast the inspection alone runs (MB/s): the policy's own cost per byte. */
export async function inspectorThroughput(content: PolicyRun['content']): Promise<number> {
  const chunk = content === 'text' ? textBytes(CHUNK, randomBytes(16)) : randomBytes(CHUNK);
  const inspector = new ContentInspector();
  const started = performance.now();
  // push() returns a promise while nested members are being inflated: the stream waits for it.
  for (let sent = 0; sent < INSPECTOR_BYTES; sent += CHUNK) await inspector.push(chunk);
  await inspector.finish();
  return round(INSPECTOR_BYTES / 1e6 / ((performance.now() - started) / 1000));
}

/** Sync scans of the same files under the default policy and with every switch on. */
export async function measurePolicyRun(
  client: ScangateClient,
  content: PolicyRun['content'],
  policy: PolicyRun['policy'],
  payloads: Payload[],
): Promise<PolicyRun> {
  const latenciesMs: number[] = [];
  const verdicts: Record<string, number> = {};
  const headers: Record<string, string> = policy === 'default' ? {} : { 'x-scangate-policy': POLICY_ON };
  const started = performance.now();
  await runConcurrently(payloads.length, CONCURRENCY, async (index) => {
    const begin = performance.now();
    const answer = await client.scanSync(payloads[index]!, headers);
    latenciesMs.push(performance.now() - begin);
    verdicts[answer.status] = (verdicts[answer.status] ?? 0) + 1;
  });
  const seconds = (performance.now() - started) / 1000;
  const bytes = payloads.reduce((total, payload) => total + payload.size, 0);
  return {
    content,
    policy,
    files: payloads.length,
    filesPerSecond: roundRate(payloads.length / seconds),
    mbPerSecond: round(bytes / 1e6 / seconds),
    latency: summarize(latenciesMs),
    verdicts,
  };
}

export function policyRatios(runs: PolicyRun[]): PolicyResult['ratio'] {
  const ratio = (content: PolicyRun['content']) => {
    const on = runs.find((run) => run.content === content && run.policy !== 'default')?.filesPerSecond;
    const off = runs.find((run) => run.content === content && run.policy === 'default')?.filesPerSecond;
    return on && off ? round(on / off) : null;
  };
  return { binary: ratio('binary'), text: ratio('text') };
}

export const POLICY_CONCURRENCY = CONCURRENCY;

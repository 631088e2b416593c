import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const SOAK = path.resolve(import.meta.dirname, '../../scripts/soak.ts');

/**
 * A short soak inside `npm test`: 60 s at 4 jobs/s on SQLite with a clamd kill, a SIGKILL and
 * restart of the service, and a callback receiver outage. Nothing may be lost. The long runs
 * (`npm run soak`) are recorded in docs/RELIABILITY.md.
 */
test('short soak under faults: no job, verdict or callback lost, no blob leaked', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'scangate-soak-test-'));
  const output = path.join(dir, 'summary.json');
  try {
    const child = spawn(
      process.execPath,
      [
        SOAK,
        '--seconds',
        '60',
        '--rate',
        '4',
        '--fault-every',
        '15',
        '--outage-seconds',
        '6',
        '--output',
        output,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let progress = '';
    child.stderr.on('data', (chunk: Buffer) => {
      progress += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    const summary = JSON.parse(await readFile(output, 'utf8')) as Record<string, unknown> & {
      faultsInjected: Record<string, number>;
      failures: string[];
    };
    t.diagnostic(
      `submitted ${summary.jobsSubmitted}, faults ${JSON.stringify(summary.faultsInjected)}, ` +
        `callback attempts ${summary.callbackAttempts}, drain ${summary.drainSeconds} s`,
    );
    assert.deepEqual(summary.failures, [], progress);
    assert.equal(code, 0, progress);
    assert.ok((summary.jobsSubmitted as number) > 100, `only ${summary.jobsSubmitted} jobs submitted`);
    for (const kind of ['clamd_kill', 'service_kill', 'receiver_outage']) {
      assert.ok((summary.faultsInjected[kind] ?? 0) >= 1, `no ${kind} injected`);
    }
    for (const invariant of [
      'jobsLost',
      'duplicateVerdicts',
      'callbacksLost',
      'leakedBlobs',
      'wrongVerdicts',
    ]) {
      assert.equal(summary[invariant], 0, invariant);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

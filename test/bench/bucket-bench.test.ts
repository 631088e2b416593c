import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { test } from 'node:test';

const REPO = path.resolve(import.meta.dirname, '../..');

test('bench/bucket.ts on 20 objects: one verdict per object, and both rates reported', async () => {
  const child = spawn(process.execPath, ['bench/bucket.ts', '--objects', '20', '--concurrency', '4'], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 0, stderr.slice(-2000));
  const report = JSON.parse(stdout) as {
    objects: number;
    bucketScan: { verdicts: number; exactlyOneVerdictPerObject: boolean; objectsPerSecond: number };
    uploads: { submitted: number; objectsPerSecond: number };
  };
  assert.equal(report.objects, 20);
  assert.equal(report.bucketScan.verdicts, 20);
  assert.equal(report.bucketScan.exactlyOneVerdictPerObject, true);
  assert.equal(report.uploads.submitted, 20);
  assert.ok(report.bucketScan.objectsPerSecond > 0 && report.uploads.objectsPerSecond > 0);
});

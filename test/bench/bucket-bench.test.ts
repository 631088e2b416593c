import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const REPO = path.resolve(import.meta.dirname, '../..');

test('bench/bucket.ts on 20 objects: one verdict per object, and both rates reported', async () => {
  const scratch = await mkdtemp(path.join(tmpdir(), 'scangate-bucket-bench-'));
  const output = path.join(scratch, 'report.json');
  // Never the repository's BENCHMARKS.md: a smoke run must not replace the real figures.
  const markdown = path.join(scratch, 'BENCHMARKS.md');
  // Read from --output: scangate's own log lines share the bench's stdout.
  const child = spawn(
    process.execPath,
    ['bench/bucket.ts', '--objects', '20', '--concurrency', '4', '--output', output, '--markdown', markdown],
    { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 0, stderr.slice(-2000));
  const report = JSON.parse(await readFile(output, 'utf8')) as {
    objects: number;
    bucketScan: {
      verdicts: number;
      exactlyOneVerdictPerObject: boolean;
      objectsPerSecond: number;
      s3Operations: Record<string, number>;
    };
    s3rverAlone: { objects: number; requests: number };
    uploads: { submitted: number; objectsPerSecond: number };
  };
  assert.equal(report.objects, 20);
  assert.equal(report.bucketScan.verdicts, 20);
  assert.equal(report.bucketScan.exactlyOneVerdictPerObject, true);
  assert.equal(report.uploads.submitted, 20);
  assert.ok(report.bucketScan.objectsPerSecond > 0 && report.uploads.objectsPerSecond > 0);
  assert.equal(report.bucketScan.s3Operations.GetObject, 20, 'one GetObject per object');
  assert.equal(report.s3rverAlone.objects, 20);
  assert.match(await readFile(markdown, 'utf8'), /### Latest run: 20 objects of 1024 bytes/);
  await rm(scratch, { recursive: true, force: true });
});

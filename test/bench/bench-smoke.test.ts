import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BenchReport } from '../../bench/report.ts';
import { repeatWorkload } from '../../bench/verdict-cache.ts';

const REPO = path.resolve(import.meta.dirname, '../..');

describe('npm run bench on tiny inputs', () => {
  let scratch: string;
  let report: BenchReport;
  let markdown: string;
  let exitCode: number | null;
  let output = '';

  before(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'scangate-bench-smoke-'));
    const child = spawn(
      process.execPath,
      [
        'bench/run.ts',
        // The full database takes a minute to generate and 1 GiB in clamd: not for a smoke test.
        '--signatures',
        'test',
        '--memory-uploads',
        '1',
        '--queued-jobs',
        '10',
        '--idle-seconds',
        '1',
        '--sizes',
        '1KB',
        '--files-scale',
        '0.002',
        '--concurrency',
        '1',
        '--download-size',
        '1MB',
        '--latency-submits',
        '5',
        '--cache-files',
        '10',
        '--policy-files',
        '5',
        // 100 KB files: one SQLite process against 2 API + 2 worker processes on a PostgreSQL database of its own.
        '--scaleout-files',
        '4',
        '--scaleout-idle-seconds',
        '1',
        '--out',
        path.join(scratch, 'r.json'),
        '--tmp',
        scratch,
        '--time-limit',
        '3',
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    [exitCode] = (await once(child, 'exit')) as [number | null];
    if (exitCode === 0) {
      report = JSON.parse(await readFile(path.join(scratch, 'r.json'), 'utf8')) as BenchReport;
      markdown = await readFile(path.join(scratch, 'r.md'), 'utf8');
    }
  });
  after(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test('runs to the end and leaves its temp dir removed', async () => {
    assert.equal(exitCode, 0, output.slice(-4000));
    const left = (await readdir(scratch)).filter((name) => name.startsWith('scangate-bench-'));
    assert.deepEqual(left, []);
  });

  test('measures raw, sync and async side by side, every file clean', () => {
    assert.deepEqual(report.rounds.map((round) => round.mode).sort(), ['async', 'raw', 'sync']);
    for (const round of report.rounds) {
      assert.equal(round.signatures, 'test');
      assert.equal(round.size, '1KB');
      assert.equal(round.concurrency, 1);
      assert.deepEqual(round.verdicts, { clean: round.files }, `${round.mode} verdicts`);
      assert.ok(round.filesPerSecond > 0);
      assert.equal(round.latency.count, round.files);
    }
    const async = report.rounds.find((round) => round.mode === 'async')!;
    // Every round sends bytes never sent before: nothing may come from the verdict cache.
    assert.equal(async.cachedVerdicts, 0);
    assert.ok(async.submitLatency && async.submitLatency.count === async.files);
    // Every process's CPU is read from /proc: clamd scanned in every round.
    for (const round of report.rounds) assert.ok(round.cpuSeconds.clamd >= 0, round.mode);
  });

  test('reports the memory of the service: idle (build and sources), large uploads, queued jobs', () => {
    const memory = report.memory!;
    assert.deepEqual(
      memory.idle?.map((entry) => entry.entry),
      ['src', 'dist', 'dist'],
    );
    for (const entry of memory.idle ?? []) assert.ok(entry.rss > 0 && entry.rssAnon > 0 && entry.rssFile > 0);
    assert.deepEqual(memory.uploads?.verdicts, { clean: 1 });
    assert.ok(
      (memory.uploads?.peakSampled ?? 0) >= (memory.uploads?.rssBefore ?? Number.POSITIVE_INFINITY) / 2,
    );
    assert.equal(memory.queued?.jobs, 10);
    assert.ok((memory.queued?.rssQueued ?? 0) > 0);
    assert.match(markdown, /### Memory of the service/);
  });

  test('reports the download, the submit latency and the verdict cache', () => {
    assert.equal(report.download?.status, 'clean');
    assert.equal(report.download?.bytes, 1024 * 1024);
    assert.ok(report.download.scangateRss.peakSampled > 0);
    assert.equal(report.submitLatency?.saturated.upload.count, 5);
    assert.equal(report.submitLatency?.saturated.url.count, 5);
    const runs = report.verdictCache?.runs ?? [];
    assert.deepEqual(runs.map((run) => run.label).sort(), ['repeat-cache-off', 'repeat-cache-on', 'unique']);
    for (const run of runs) assert.deepEqual(run.verdicts, { clean: run.files }, run.label);
    // With the cache off nothing is answered from it, whatever the timing.
    assert.equal(runs.find((run) => run.label === 'repeat-cache-off')?.cachedVerdicts, 0);
  });

  test('reports the content-policy round: the same clean verdicts with every switch on', () => {
    const runs = report.policy?.runs ?? [];
    assert.deepEqual(
      runs.map((run) => `${run.content}/${run.policy}`),
      ['binary/default', 'binary/all switches on', 'text/default', 'text/all switches on'],
    );
    for (const run of runs) assert.deepEqual(run.verdicts, { clean: 5 }, `${run.content}/${run.policy}`);
    assert.ok((report.policy?.inspectorMBps.binary ?? 0) > 0);
    assert.ok((report.policy?.inspectorMBps.text ?? 0) > 0);
    assert.match(markdown, /### Content policy/);
  });

  test('runs the scale-out phase: raw, SQLite and 2 + 2 processes on PostgreSQL, every file clean, idle transactions counted', () => {
    const scaleout = report.scaleout!;
    assert.equal(scaleout.apiProcesses, 2);
    assert.equal(scaleout.workerProcesses, 2);
    assert.deepEqual(scaleout.workerConcurrency, [2, 2], 'the single process’s 4 slots, split');
    assert.deepEqual(scaleout.runs.map((run) => run.setup).sort(), [
      'postgres',
      'postgres-async-commit',
      'raw',
      'sqlite',
    ]);
    for (const run of scaleout.runs) {
      assert.deepEqual(run.verdicts, { clean: 4 }, run.setup);
      assert.ok(run.filesPerSecond > 0, run.setup);
    }
    const postgres = scaleout.runs.find((run) => run.setup === 'postgres')!;
    assert.equal(postgres.inWorker?.count, 4, 'every job’s lease-to-verdict time read back');
    assert.ok(scaleout.idle && scaleout.idle.seconds >= 1 && scaleout.idle.transactions >= 0);
    // Four files and a one-second window say nothing about the targets: reported, not judged.
    for (const id of ['scaleout-throughput', 'scaleout-idle'])
      assert.equal(report.targets.find((target) => target.id === id)?.held, null, id);
    assert.match(markdown, /### Scale-out: PostgreSQL mode against one process on SQLite/);
  });

  test('judges the targets and writes them into the Markdown report', () => {
    assert.deepEqual(report.targets.map((target) => target.id).sort(), [
      'download-rss',
      'full-async',
      'full-sync',
      'idle-rss',
      'scaleout-idle',
      'scaleout-throughput',
      'submit-latency',
      'test-async-100kb-up',
      'test-async-1kb',
      'test-async-cpu',
    ]);
    // A 1 MB download says nothing about the 1 GB target; the full database did not run.
    assert.equal(report.targets.find((target) => target.id === 'download-rss')?.held, null);
    assert.equal(report.targets.find((target) => target.id === 'full-async')?.held, null);
    assert.equal(report.targets.find((target) => target.id === 'test-async-100kb-up')?.held, null);
    assert.notEqual(report.targets.find((target) => target.id === 'idle-rss')?.held, null);
    assert.match(markdown, /<!-- bench:begin/);
    assert.match(markdown, /### Test database/);
    assert.doesNotMatch(markdown, /### Full database/);
    assert.match(markdown, /\| 1KB \| 10 \| 1 \|/);
    assert.match(markdown, /### Verdict cache/);
  });
});

describe('the 50 % repeat workload', () => {
  test('holds every original twice, each repeat at least `distance` places after its original', () => {
    const originals = Array.from({ length: 10 }, (_, index) => index);
    const order = repeatWorkload(originals, 3);
    assert.equal(order.length, 20);
    for (const original of originals) {
      const first = order.indexOf(original);
      const second = order.lastIndexOf(original);
      assert.notEqual(first, second);
      assert.ok(second - first > 3, `${original} repeats after ${second - first} places`);
    }
  });
});

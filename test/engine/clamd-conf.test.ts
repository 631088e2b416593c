import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLAMD_MAX_FILE_SIZE } from '../../src/config.ts';
import { clamdOptions, renderClamdConf } from '../../src/engine/clamd/conf.ts';

const MiB = 1024 * 1024;
const base = {
  dir: '/data/clamd',
  databaseDirectory: '/data/signatures',
  maxFileSizeBytes: 100 * MiB,
  maxThreads: 4,
  scanTimeoutMs: 300_000,
};

test('limits are one byte over ours, so scangate decides what is too large', () => {
  const options = clamdOptions(base);
  assert.equal(options.get('StreamMaxLength'), 100 * MiB + 1);
  assert.equal(options.get('MaxScanSize'), 4 * (100 * MiB + 1));
  // Equal to MaxScanSize: a zip member truncated at MaxFileSize then always alerts (MaxScanSize).
  assert.equal(options.get('MaxFileSize'), 4 * (100 * MiB + 1));
  assert.equal(options.get('MaxThreads'), 4);
  assert.equal(options.get('LocalSocket'), '/data/clamd/clamd.sock');
  assert.equal(options.get('TemporaryDirectory'), '/data/clamd/tmp');
  assert.equal(options.get('DatabaseDirectory'), '/data/signatures');
  // clamd gives up on a scan before our reply timeout would.
  assert.ok((options.get('MaxScanTime') as number) < base.scanTimeoutMs);
});

test('limits stay within what clamd accepts', () => {
  const options = clamdOptions({ ...base, maxFileSizeBytes: CLAMD_MAX_FILE_SIZE });
  assert.equal(options.get('MaxFileSize'), CLAMD_MAX_FILE_SIZE);
  assert.equal(options.get('MaxScanSize'), CLAMD_MAX_FILE_SIZE);
  assert.equal(clamdOptions({ ...base, maxFileSizeBytes: MiB }).get('MaxScanSize'), 400 * MiB);
  assert.equal(clamdOptions({ ...base, maxFileSizeBytes: MiB }).get('MaxFileSize'), 400 * MiB);
});

test('limits and encrypted archives are detections, not a silent OK', () => {
  const text = renderClamdConf(base);
  for (const line of [
    'AlertExceedsMax yes',
    'AlertEncrypted yes',
    'HeuristicAlerts yes',
    'Foreground yes',
    'MaxRecursion 17',
    'MaxFiles 10000',
  ]) {
    assert.match(text, new RegExp(`^${line}$`, 'm'));
  }
});

test('extra options override and add', () => {
  const text = renderClamdConf({ ...base, extra: { MaxRecursion: 3, AlertEncrypted: false, Debug: true } });
  assert.match(text, /^MaxRecursion 3$/m);
  assert.doesNotMatch(text, /^MaxRecursion 17$/m);
  assert.match(text, /^AlertEncrypted no$/m);
  assert.match(text, /^Debug yes$/m);
});

test('an option cannot smuggle a second line', () => {
  assert.throws(() => renderClamdConf({ ...base, extra: { LogFile: '/tmp/x\nUser nobody' } }));
  assert.throws(() => renderClamdConf({ ...base, extra: { 'Bad Name': 1 } }));
});

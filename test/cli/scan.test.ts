import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { KEY_A, startTestService, type TestService } from '../support/service.ts';
import { runCli } from './run-cli.ts';

describe('scangate scan against a running service', () => {
  let service: TestService;
  let files: string;
  let env: Record<string, string>;

  before(async () => {
    service = await startTestService();
    files = await mkdtemp(path.join(tmpdir(), 'scangate-cli-'));
    await writeFile(path.join(files, 'eicar.com'), eicarBytes());
    await writeFile(path.join(files, 'photo.jpg'), randomBytes(300_000));
    env = { SCANGATE_URL: service.url, SCANGATE_API_KEY: KEY_A };
  });

  after(async () => {
    await service?.stop();
    if (files) await rm(files, { recursive: true, force: true });
  });

  test('a clean file exits 0', async () => {
    const result = await runCli(['scan', path.join(files, 'photo.jpg')], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^clean: photo\.jpg \(293.0 KB/);
  });

  test('EICAR exits 1, and --json prints the native result', async () => {
    const result = await runCli(
      ['scan', '--json', '--trace-id', 'cli-1', path.join(files, 'eicar.com')],
      env,
    );
    assert.equal(result.code, 1, result.stderr);
    const scan = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(scan.status, 'infected');
    assert.equal(scan.trace_id, 'cli-1');
    assert.match(scan.finding as string, /^Eicar/);
    assert.equal(scan.sha256, '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f');
  });

  test('a refused URL is unscannable: exit 2', async () => {
    // Loopback is refused by the default SSRF policy, so this never leaves the machine.
    const result = await runCli(['scan', 'http://127.0.0.1:9/file.bin'], env);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stdout, /^unscannable: http:\/\/127\.0\.0\.1:9\/file\.bin — blocked_destination/);
  });

  test('standard input with a name, and the progress bar on request', async () => {
    const result = await runCli(['scan', '--progress', '--filename', 'piped.com', '-'], env, eicarBytes());
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^infected: piped\.com/);
    assert.match(result.stderr, /piped\.com\s+68 B/);

    const file = await runCli(['scan', '--progress', path.join(files, 'photo.jpg')], env);
    assert.equal(file.code, 0, file.stderr);
    assert.match(file.stderr, /\[=+\] 100%\s+293.0 KB \/ 293.0 KB/);
    // Without --progress and without a terminal, stderr stays quiet.
    const quiet = await runCli(['scan', path.join(files, 'photo.jpg')], env);
    assert.equal(quiet.stderr, '');
  });

  test('--no-wait prints the pending scan and exits 0', async () => {
    const result = await runCli(['scan', '--no-wait', '--json', path.join(files, 'eicar.com')], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { status: string }).status, 'pending');
  });

  test('errors exit 3: wrong key, no service, unknown option, missing file', async () => {
    const wrongKey = await runCli(['scan', '--json', path.join(files, 'eicar.com')], {
      ...env,
      SCANGATE_API_KEY: 'wrong-key-123456',
    });
    assert.equal(wrongKey.code, 3);
    assert.deepEqual(JSON.parse(wrongKey.stdout), {
      error: { code: 'unauthorized', message: 'invalid API key', status: 401 },
    });
    assert.match(wrongKey.stderr, /invalid API key \(unauthorized, HTTP 401\)/);

    const noService = await runCli(
      ['scan', '--url', 'http://127.0.0.1:9', path.join(files, 'eicar.com')],
      env,
    );
    assert.equal(noService.code, 3);
    assert.match(noService.stderr, /cannot reach scangate at http:\/\/127\.0\.0\.1:9/);

    const usage = await runCli(['scan', '--bogus', path.join(files, 'eicar.com')], env);
    assert.equal(usage.code, 3);
    assert.match(usage.stderr, /unknown option '--bogus'/);

    const missing = await runCli(['scan', path.join(files, 'nope.bin')], env);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /cannot read .*nope\.bin/);

    const noKey = await runCli(['scan', path.join(files, 'eicar.com')], { SCANGATE_URL: service.url });
    assert.equal(noKey.code, 3);
    assert.match(noKey.stderr, /no API key/);
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { KEY_A, startTestService, type TestService } from '../support/service.ts';
import { runCli } from './run-cli.ts';

describe('scangate scan on many files', () => {
  let service: TestService;
  let tree: string;
  let env: Record<string, string>;

  before(async () => {
    service = await startTestService();
    tree = await mkdtemp(path.join(tmpdir(), 'scangate-batch-'));
    await mkdir(path.join(tree, 'docs/deeper'), { recursive: true });
    await writeFile(path.join(tree, 'docs/a.bin'), randomBytes(1000));
    await writeFile(path.join(tree, 'docs/deeper/b.bin'), randomBytes(2000));
    await writeFile(path.join(tree, 'docs/deeper/c.bin'), randomBytes(3000));
    await writeFile(path.join(tree, 'eicar.com'), eicarBytes());
    // A link out of the tree is not followed.
    await symlink('/etc', path.join(tree, 'docs/outside'));
    env = { SCANGATE_URL: service.url, SCANGATE_API_KEY: KEY_A };
  });

  after(async () => {
    await service?.stop();
    if (tree) await rm(tree, { recursive: true, force: true });
  });

  const jsonLines = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));

  test('a directory is scanned recursively: JSON Lines, a summary line, exit 0 when all are clean', async () => {
    const result = await runCli(['scan', '--json', '--concurrency', '2', path.join(tree, 'docs')], env);
    assert.equal(result.code, 0, result.stderr);
    const lines = jsonLines(result.stdout);
    const summary = lines.pop();
    assert.deepEqual(summary, {
      summary: { scanned: 3, clean: 3, infected: 0, blocked: 0, unscannable: 0, errors: 0 },
    });
    assert.deepEqual(lines.map((line) => path.relative(tree, line.target)).sort(), [
      'docs/a.bin',
      'docs/deeper/b.bin',
      'docs/deeper/c.bin',
    ]);
    assert.ok(lines.every((line) => line.status === 'clean' && typeof line.id === 'string'));
  });

  test('the worst outcome is the exit code: an infected file among clean ones and a missing one exits 1', async () => {
    const result = await runCli(
      ['scan', path.join(tree, 'docs/a.bin'), path.join(tree, 'eicar.com'), path.join(tree, 'missing.bin')],
      env,
    );
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.at(-1), 'scanned 3: 1 clean, 1 infected, 0 blocked, 0 unscannable, 1 errors');
    assert.ok(lines.some((line) => /^infected: .*eicar\.com — Eicar/.test(line)));
    assert.ok(lines.some((line) => /^error: .*missing\.bin — .*\(file_unreadable\)$/.test(line)));
  });

  test('a file list on standard input (--files-from -); an error without infection exits 3', async () => {
    const list = `${path.join(tree, 'docs/a.bin')}\n\n${path.join(tree, 'docs/deeper')}\nftp://files.example/x\n`;
    const result = await runCli(['scan', '--json', '--files-from', '-'], env, Buffer.from(list));
    assert.equal(result.code, 3, result.stderr);
    const lines = jsonLines(result.stdout);
    assert.deepEqual(lines.pop(), {
      summary: { scanned: 4, clean: 3, infected: 0, blocked: 0, unscannable: 0, errors: 1 },
    });
    const refused = lines.find((line) => line.error);
    assert.equal(refused.error.code, 'unsupported_scheme');
    assert.match(refused.error.message, /unsupported URL scheme "ftp:"/);
  });

  test('--version prints the version; no key names the command that makes one', async () => {
    const version = await runCli(['--version'], {});
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const keyless = await runCli(['scan', path.join(tree, 'docs')], { SCANGATE_URL: service.url });
    assert.equal(keyless.code, 3);
    assert.match(keyless.stderr, /scangate keys create --tenant NAME/);
  });

  test('a single URL with an unsupported scheme says so instead of "no such file"', async () => {
    const result = await runCli(['scan', 'file:///etc/passwd'], env);
    assert.equal(result.code, 3);
    assert.match(result.stderr, /unsupported URL scheme "file:".*\(unsupported_scheme\)/);
  });
});

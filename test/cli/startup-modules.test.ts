import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const REPO = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** The built-in and package modules loaded once the service's module graph is imported. */
async function modulesLoadedByServiceGraph(): Promise<{ builtins: string[]; packages: string[] }> {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(path.join(REPO, 'src/cli/service.ts'))});
    const cached = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify({ builtins: process.moduleLoadList, packages: cached }));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO,
  });
  return JSON.parse(stdout) as { builtins: string[]; packages: string[] };
}

test('the service starts without the clients it may never use: outbound HTTP, S3, PostgreSQL, Redis', async () => {
  const { builtins, packages } = await modulesLoadedByServiceGraph();
  assert.ok(builtins.includes('NativeModule http'), 'the module list was read after the graph loaded');
  assert.ok(
    !builtins.includes('NativeModule internal/deps/undici/undici'),
    "Node's bundled undici (fetch, WebSocket) is not loaded: no ES import of node:http reads its lazy exports",
  );
  for (const client of ['undici', '@aws-sdk/client-s3', 'pg', 'ioredis']) {
    const loaded = packages.filter((file) =>
      file.includes(`${path.sep}node_modules${path.sep}${client}${path.sep}`),
    );
    assert.deepEqual(loaded, [], `${client} is imported at its first use`);
  }
});

test('the compiled service loads tls, https and http2 only when TLS is configured', async () => {
  await run(process.execPath, ['scripts/build.ts', '--if-stale', '--quiet'], { cwd: REPO });
  const chunks = await readdir(path.join(REPO, 'dist/chunks'));
  const service = chunks.find((name) => /^service-[A-Z0-9]+\.js$/.test(name));
  assert.ok(service, `the build has a service chunk (${chunks.join(', ')})`);
  const script = `
    await import(${JSON.stringify(path.join(REPO, 'dist/chunks', service))});
    console.log(JSON.stringify(process.moduleLoadList));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO,
  });
  const builtins = JSON.parse(stdout) as string[];
  assert.ok(builtins.includes('NativeModule http'), 'the module list was read after the chunk loaded');
  for (const name of ['tls', 'https', 'http2']) {
    assert.ok(!builtins.includes(`NativeModule ${name}`), `${name} is loaded at its first use`);
  }
});

/**
 * The container image as an operator runs it: built with podman (deploy/image/build.sh), started
 * with the offline test signatures (no internet here) and an API key from a *_FILE secret, EICAR and a
 * clean file scanned through the bucketAV and Bucketscan dialects, the healthcheck run, then stopped
 * with SIGTERM: tini forwards it, scangate drains and exits 0. Skipped where podman is missing.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { startHttpServer } from '../support/http-servers.ts';
import { waitFor } from '../support/service.ts';

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '../..');
const IMAGE = 'localhost/scangate:image-test';
const KEY = 'image-test-key-0123456789';
const podmanMissing = spawnSync('podman', ['--version']).status !== 0;
const skip = podmanMissing
  ? 'podman is not installed (.ci/run installs podman, runc and debootstrap)'
  : false;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A limit runc may set here: at most this process's hard limit (`Max open files`, `Max processes`),
 * and not above 16384 (higher process limits were refused in this sandbox although allowed).
 */
async function hardLimit(name: string): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const line = limits.split('\n').find((candidate) => candidate.startsWith(name));
  const hard = line?.slice(name.length).trim().split(/\s+/)[1];
  if (!hard || !/^(\d+|unlimited)$/.test(hard)) throw new Error(`cannot read the ${name} limit`);
  return Math.min(hard === 'unlimited' ? Number.POSITIVE_INFINITY : Number(hard), 16_384);
}

function podman(args: string[], timeout = 120_000) {
  return run('podman', args, { timeout, maxBuffer: 64 * 1024 * 1024 });
}

describe('container image', { skip }, () => {
  const name = `scangate-image-test-${process.pid}`;
  let url: string;
  let secrets: string;

  before(
    async () => {
      // The first build debootstraps the base image and installs packages: minutes, not seconds.
      await run('bash', [path.join(REPO, 'deploy/image/build.sh'), IMAGE], {
        cwd: REPO,
        timeout: 40 * 60_000,
        maxBuffer: 256 * 1024 * 1024,
      });
      secrets = await mkdtemp(path.join(tmpdir(), 'scangate-image-'));
      await writeFile(path.join(secrets, 'api-keys'), `ops=${KEY}\n`);
      await chmod(secrets, 0o755);
      await chmod(path.join(secrets, 'api-keys'), 0o644);
      const port = await freePort();
      const nofile = await hardLimit('Max open files');
      const nproc = await hardLimit('Max processes');
      url = `http://127.0.0.1:${port}`;
      await podman([
        'run',
        '--detach',
        '--name',
        name,
        '--runtime',
        'runc',
        // This sandbox refuses podman's default limits and any above its own; a real host needs neither.
        '--ulimit',
        `nofile=${nofile}:${nofile}`,
        '--ulimit',
        `nproc=${nproc}:${nproc}`,
        // Loopback only: the test talks to it on 127.0.0.1 and it reaches nothing else.
        '--network',
        'host',
        '--env',
        'HOST=127.0.0.1',
        '--env',
        `PORT=${port}`,
        // No internet here for freshclam: the offline test database, asked for explicitly.
        '--env',
        'SIGNATURES=test',
        '--env',
        'API_KEYS_FILE=/run/secrets/api-keys',
        '--volume',
        `${secrets}/api-keys:/run/secrets/api-keys:ro`,
        IMAGE,
      ]);
      await waitFor(
        async () => {
          const response = await fetch(`${url}/readyz`).catch(() => undefined);
          return response?.status === 200 ? true : undefined;
        },
        180_000,
        500,
      ).catch(async (error: unknown) => {
        const { stdout, stderr } = await podman(['logs', name]).catch(() => ({ stdout: '', stderr: '' }));
        throw new Error(`${(error as Error).message}\n${stdout}\n${stderr}`);
      });
    },
    { timeout: 45 * 60_000 },
  );

  after(async () => {
    if (podmanMissing) return;
    await podman(['rm', '--force', '--volumes', name]).catch(() => undefined);
    if (secrets) await rm(secrets, { recursive: true, force: true });
  });

  test('runs as a non-root user with tini as PID 1, and its healthcheck passes', async () => {
    const { stdout: user } = await podman(['exec', name, 'id', '-un']);
    assert.equal(user.trim(), 'scangate');
    const { stdout: init } = await podman(['exec', name, 'cat', '/proc/1/cmdline']);
    assert.match(init, /^\/usr\/bin\/tini\0/);
    const { stdout: node } = await podman(['exec', name, 'node', '--version']);
    assert.match(node, /^v24\./);
    await podman(['healthcheck', 'run', name]);
  });

  test('bucketAV sync scans: EICAR is infected, a clean file clean', async () => {
    const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/octet-stream' };
    const infected = await fetch(`${url}/api/v1/scan/sync/binary`, {
      method: 'POST',
      headers,
      body: eicarBytes(),
    });
    assert.equal(infected.status, 200);
    const infectedBody = (await infected.json()) as { status: string; finding?: string };
    assert.equal(infectedBody.status, 'infected');
    assert.match(infectedBody.finding ?? '', /^Eicar/);
    const clean = await fetch(`${url}/api/v1/scan/sync/binary`, {
      method: 'POST',
      headers,
      body: Buffer.from('just a plain text file\n'),
    });
    assert.deepEqual(await clean.json(), { status: 'clean', size: 23, realfiletype: 'txt' });
  });

  test('Bucketscan scans: EICAR completed_infected, a clean file completed_clean', async () => {
    const verdictOf = async (bytes: Buffer, filename: string) => {
      const form = new FormData();
      form.set('file', new Blob([bytes]), filename);
      const initiated = await fetch(`${url}/api/v1/scans/initiate`, {
        method: 'POST',
        headers: { 'x-api-key': KEY },
        body: form,
      });
      assert.equal(initiated.status, 200);
      const { scanId } = (await initiated.json()) as { scanId: string };
      return waitFor(async () => {
        const body = (await (
          await fetch(`${url}/api/v1/scans/${scanId}`, { headers: { 'x-api-key': KEY } })
        ).json()) as { scanResult: string };
        return body.scanResult === 'pending' ? undefined : body.scanResult;
      });
    };
    assert.equal(await verdictOf(eicarBytes(), 'eicar.com'), 'completed_infected');
    assert.equal(await verdictOf(Buffer.from('%PDF-1.4 nothing to see\n'), 'report.pdf'), 'completed_clean');
  });

  test('SIGTERM drains and exits 0', async () => {
    await podman(['kill', '--signal', 'TERM', name]);
    const { stdout } = await podman(['wait', name], 60_000);
    assert.equal(stdout.trim(), '0');
    const { stdout: logs } = await podman(['logs', name]);
    assert.match(logs, /"msg":"shutting down"/);
    assert.match(logs, /"signal":"SIGTERM"/);
  });

  test('its own freshclam fills an empty volume, and clamd starts on what it downloaded', async () => {
    // A private mirror on loopback serving one custom database (an EICAR body signature of its own
    // name), every official database excluded: freshclam as the image runs it, without the internet.
    const ndb = `Scangate.Image.Eicar:0:*:${eicarBytes().toString('hex')}\n`;
    const mirror = await startHttpServer((request, response) => {
      if (request.url === '/x.ndb') response.end(ndb);
      else response.writeHead(404).end();
    });
    const freshclamName = `${name}-freshclam`;
    try {
      const port = await freePort();
      const limit = await hardLimit('Max open files');
      const processes = await hardLimit('Max processes');
      await podman([
        'run',
        '--detach',
        '--name',
        freshclamName,
        '--runtime',
        'runc',
        '--ulimit',
        `nofile=${limit}:${limit}`,
        '--ulimit',
        `nproc=${processes}:${processes}`,
        '--network',
        'host',
        '--env',
        'HOST=127.0.0.1',
        '--env',
        `PORT=${port}`,
        '--env',
        `API_KEYS=ops=${KEY}`,
        '--env',
        `FRESHCLAM_PRIVATE_MIRRORS=${mirror.origin}`,
        '--env',
        `FRESHCLAM_CUSTOM_URLS=${mirror.origin}/x.ndb`,
        '--env',
        'FRESHCLAM_EXCLUDE_DATABASES=main,daily,bytecode',
        IMAGE,
      ]);
      const ready = await waitFor(
        async () => {
          const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
          return response?.status === 200
            ? ((await response.json()) as { signatures: { source: string; test: boolean } })
            : undefined;
        },
        180_000,
        500,
      );
      // No SIGNATURES given: auto picks scangate's freshclam, since the image has no system database.
      assert.equal(ready.signatures.source, 'freshclam');
      assert.equal(ready.signatures.test, false);
      assert.ok(mirror.requests.some((request) => request.url === '/x.ndb'));
      const scanned = await fetch(`http://127.0.0.1:${port}/api/v1/scan/sync/binary`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/octet-stream' },
        body: eicarBytes(),
      });
      const body = (await scanned.json()) as { status: string; finding?: string };
      assert.equal(body.status, 'infected');
      assert.match(body.finding ?? '', /^Scangate\.Image\.Eicar/);
    } finally {
      await podman(['rm', '--force', '--volumes', freshclamName]).catch(() => undefined);
      await mirror.close();
    }
  });
});

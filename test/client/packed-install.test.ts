import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { KEY_A, startTestService, type TestService } from '../support/service.ts';

const root = path.resolve(import.meta.dirname, '../..');
const packageDir = path.join(root, 'packages/client');
const npm = 'npm';

/**
 * The Node binary of one major version, from the `node` npm package (it brings the real binary),
 * installed once per machine outside the repo. 24 is the project's own.
 */
function nodeBinary(major: number): string {
  if (major === 24) return path.join(root, 'node_modules/.bin/node');
  const prefix = path.join(tmpdir(), 'scangate-node-versions', String(major));
  const binary = path.join(prefix, 'node_modules/.bin/node');
  if (!existsSync(binary)) {
    execFileSync(npm, ['install', '--prefix', prefix, '--no-audit', '--no-fund', `node@${major}`], {
      stdio: 'ignore',
    });
  }
  return binary;
}

/** Asynchronous: the service under test runs in this process and must keep answering meanwhile. */
async function run(
  binary: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await promisify(execFile)(binary, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return stdout;
}

/** The same checks from ESM and CommonJS: a real scan through a live service, and both signature schemes. */
const scenario = (load: string) => `${load}
const { generateKeyPairSync, createSign, createHmac } = require_('node:crypto');
async function main() {
  const client = new ScangateClient({ baseUrl: process.env.SCANGATE_URL, apiKey: process.env.SCANGATE_API_KEY });
  const submitted = await client.scanFile(Buffer.from('%PDF-1.4\\n%%EOF\\n'), { filename: 'a.pdf' });
  const result = await client.waitForResult(submitted.id, { timeoutMs: 60000, intervalMs: 50 });
  let refused;
  try { await new ScangateClient({ baseUrl: process.env.SCANGATE_URL, apiKey: 'wrong-key-0123456789' }).listScans(); }
  catch (error) { refused = error instanceof ScangateApiError ? error.code : String(error); }

  const secret = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
  const body = '{"status":"clean"}';
  const now = Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', Buffer.alloc(32, 7)).update('msg_1.' + now + '.' + body).digest('base64');
  const webhook = verifyCallbackSignature(secret, { 'webhook-id': 'msg_1', 'webhook-timestamp': String(now), 'webhook-signature': 'v1,' + mac }, body);

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const url = 'https://receiver.example/cb';
  const signature = createSign('sha256').update(now + '.tenant-a.' + url + '.' + body).sign(privateKey, 'base64');
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  const rsa = { scheme: 'attachmentav', publicKey: pem, tenantId: 'tenant-a', callbackUrl: url };
  const headers = new Headers({ 'x-timestamp': String(now), 'x-signature': signature });
  const attachmentAv = verifyCallbackSignature(rsa, headers, body);
  const forged = verifyCallbackSignature({ ...rsa, tenantId: 'tenant-b' }, headers, body);
  console.log(JSON.stringify({ node: process.versions.node, status: result.status, fileType: result.file_type, refused, webhook, attachmentAv, forged }));
}
main().catch((error) => { console.error(error); process.exit(1); });
`;

const typescriptCheck = `import { ScangateClient, ScangateApiError, verifyCallbackSignature, type NativeScan, type AttachmentAvVerification } from '@scangate/client';
const client: ScangateClient = new ScangateClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k' });
const status: NativeScan['status'] = 'clean';
const verification: AttachmentAvVerification = { scheme: 'attachmentav', publicKey: ['pem'], tenantId: 't', callbackUrl: 'u' };
const ok: boolean = verifyCallbackSignature(verification, {}, '') || verifyCallbackSignature('whsec_x', new Headers(), new Uint8Array());
// @ts-expect-error: a scan status is one of four words
const wrong: NativeScan['status'] = 'maybe';
export const checked = [client.baseUrl, status, ok, wrong, ScangateApiError.name];
`;

describe('the packed client installed in a scratch project', () => {
  let service: TestService;
  let scratch: string;
  let installed: string[];

  before(async () => {
    service = await startTestService();
    scratch = await mkdtemp(path.join(tmpdir(), 'scangate-client-install-'));
    // npm pack builds it first (prepack): what a maintainer publishing it would run.
    const packed = JSON.parse(
      execFileSync(npm, ['pack', '--json', '--pack-destination', scratch], {
        cwd: packageDir,
        encoding: 'utf8',
      }),
    ) as { filename: string; files: { path: string }[] }[];
    const tarball = path.join(scratch, packed[0]!.filename);
    await writeFile(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true }));
    execFileSync(npm, ['install', '--no-audit', '--no-fund', '--offline', tarball], {
      cwd: scratch,
      stdio: 'ignore',
    });
    installed = readdirSync(path.join(scratch, 'node_modules'));
  });

  after(async () => {
    await service.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  test('the tarball brings no dependency: not the server, not the `node` package', async () => {
    assert.deepEqual(
      installed.filter((name) => !name.startsWith('.')),
      ['@scangate'],
    );
    assert.deepEqual(readdirSync(path.join(scratch, 'node_modules/@scangate')), ['client']);
    const manifest = JSON.parse(
      await readFile(path.join(scratch, 'node_modules/@scangate/client/package.json'), 'utf8'),
    );
    assert.equal(manifest.dependencies, undefined);
    assert.ok(existsSync(path.join(scratch, 'node_modules/@scangate/client/dist/cjs/index.d.ts')));
    assert.equal(existsSync(path.join(scratch, 'node_modules/@scangate/client/src')), false);
  });

  for (const major of [20, 22, 24]) {
    test(`plain JS imports it as ESM and requires it as CommonJS on Node ${major}, and it scans`, async () => {
      const node = nodeBinary(major);
      const env = { SCANGATE_URL: service.url, SCANGATE_API_KEY: KEY_A };
      await writeFile(
        path.join(scratch, 'esm.mjs'),
        scenario(
          "import { ScangateClient, ScangateApiError, verifyCallbackSignature } from '@scangate/client';\nimport { createRequire } from 'node:module';\nconst require_ = createRequire(import.meta.url);",
        ),
      );
      await writeFile(
        path.join(scratch, 'cjs.cjs'),
        scenario(
          "const { ScangateClient, ScangateApiError, verifyCallbackSignature } = require('@scangate/client');\nconst require_ = require;",
        ),
      );
      for (const script of ['esm.mjs', 'cjs.cjs']) {
        const outcome = JSON.parse(await run(node, [script], scratch, env));
        assert.equal(outcome.node.split('.')[0], String(major), script);
        assert.deepEqual(
          { ...outcome, node: undefined },
          {
            node: undefined,
            status: 'clean',
            fileType: { ext: 'pdf', mime: 'application/pdf' },
            refused: 'unauthorized',
            webhook: true,
            attachmentAv: true,
            forged: false,
          },
          `${script} on Node ${major}`,
        );
      }
    });
  }

  test('TypeScript type-checks it from ESM and CommonJS, and the compiled JS runs on Node 20, 22 and 24', async () => {
    const dir = path.join(scratch, 'ts');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'check.mts'), typescriptCheck);
    await writeFile(path.join(dir, 'check.cts'), typescriptCheck);
    const tsc = path.join(root, 'node_modules/.bin/tsc');
    execFileSync(
      tsc,
      [
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--typeRoots',
        path.join(root, 'node_modules/@types'),
        '--types',
        'node',
        '--outDir',
        path.join(dir, 'out'),
        path.join(dir, 'check.mts'),
        path.join(dir, 'check.cts'),
      ],
      { cwd: scratch, stdio: 'pipe' },
    );
    for (const major of [20, 22, 24]) {
      for (const compiled of ['check.mjs', 'check.cjs']) {
        await run(nodeBinary(major), [path.join(dir, 'out', compiled)], scratch);
      }
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { zipOf } from '../../src/engine/container-samples.ts';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.ts';
import {
  buildZip,
  pdfDocument,
  peExecutable,
  peInZipInZip,
  scriptInTarGz,
  strictSamples,
  traversalTar,
} from '../support/policy-samples.ts';
import {
  authHeaders,
  KEY_A,
  KEY_B,
  startTestService,
  submitNativeUpload,
  type TestService,
  waitFor,
} from '../support/service.ts';

interface BucketAvBody {
  status: string;
  finding?: string;
}

/** Response bodies are typed by the test that reads them. */
const json = async <T = Record<string, unknown>>(response: Response): Promise<T> =>
  (await response.json()) as T;

interface NativeScan {
  id: string;
  status: string;
  finding: string | null;
  reason: string | null;
  rule: string | null;
  evidence: string | null;
  declared_name: string | null;
  detected_type: string | null;
  cached: boolean;
  policy: Record<string, unknown> | null;
}

/**
 * The samples against the real clamd, through every way in: tenant A runs "strict uploads",
 * tenant B the default policy. Each sample is blocked for A and passes for B (the encrypted zip
 * stays unscannable for B: that is today's behaviour).
 */
describe('content policy over real HTTP and a real clamd', () => {
  let service: TestService;
  let files: TestHttpServer;
  const hosted = new Map<string, Buffer>();
  let samples: Awaited<ReturnType<typeof strictSamples>>;

  before(async () => {
    samples = await strictSamples();
    files = await startHttpServer((request, response) => {
      const body = hosted.get(decodeURIComponent(request.url ?? '').slice(1));
      response.writeHead(body ? 200 : 404).end(body);
    });
    for (const sample of samples) hosted.set(sample.name, sample.data);
    service = await startTestService({ network: { allowCidrs: ['127.0.0.0/8'] } });
    const set = await fetch(`${service.url}/v1/policy`, {
      method: 'PUT',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
      body: JSON.stringify({ preset: 'strict' }),
    });
    assert.equal(set.status, 200);
  });
  after(async () => {
    await service?.stop();
    await files?.close();
  });

  const scanResult = (id: string, key: string) =>
    waitFor(async () => {
      const response = await fetch(`${service.url}/v1/scans/${id}`, { headers: authHeaders(key) });
      const body = (await response.json()) as NativeScan;
      return body.status === 'pending' ? undefined : body;
    });

  const expectedDefault = (name: string) => (name === 'secret.zip' ? 'unscannable' : 'clean');

  test('the tenant policy is stored and shown', async () => {
    const a = await json<{ default: boolean; block: string[] }>(
      await fetch(`${service.url}/v1/policy`, { headers: authHeaders(KEY_A) }),
    );
    assert.equal(a.default, false);
    assert.ok(a.block.includes('executables'));
    const b = await json(await fetch(`${service.url}/v1/policy`, { headers: authHeaders(KEY_B) }));
    assert.deepEqual(b, { block: [], allowed_types: null, max_archive_members: null, default: true });
  });

  test('async upload: each sample blocked under strict with rule and evidence, passed by default', async () => {
    for (const sample of samples) {
      const strict = await submitNativeUpload(service.url, sample.data, {
        key: KEY_A,
        filename: sample.name,
      });
      assert.equal(strict.status, 202, sample.name);
      const blocked = await scanResult(((await strict.json()) as NativeScan).id, KEY_A);
      assert.equal(blocked.status, 'blocked', `${sample.name}: ${JSON.stringify(blocked)}`);
      assert.equal(blocked.rule, sample.rule, sample.name);
      assert.ok(blocked.evidence?.startsWith(`${sample.rule}: `), blocked.evidence ?? '');
      assert.match(blocked.finding ?? '', /^Policy\./);
      assert.equal(blocked.declared_name, sample.name);
      assert.ok(blocked.policy, 'the policy in force is recorded on the job');

      const plain = await submitNativeUpload(service.url, sample.data, { key: KEY_B, filename: sample.name });
      const judged = await scanResult(((await plain.json()) as NativeScan).id, KEY_B);
      assert.equal(judged.status, expectedDefault(sample.name), sample.name);
      assert.equal(judged.policy, null);
    }
  });

  test('the PE renamed .pdf and the PNG that is a ZIP name what they really are', async () => {
    const pe = await submitNativeUpload(service.url, peExecutable(), { key: KEY_A, filename: 'invoice.pdf' });
    const result = await scanResult(((await pe.json()) as NativeScan).id, KEY_A);
    assert.equal(result.evidence, 'executables: PE32');
    assert.equal(result.detected_type, 'pe');
    const zip = buildZip([{ name: 'setup.exe', data: peExecutable() }]);
    const member = await submitNativeUpload(service.url, zip, { key: KEY_A, filename: 'invoices.zip' });
    assert.equal(
      (await scanResult(((await member.json()) as NativeScan).id, KEY_A)).evidence,
      'executables: PE32 at member invoices.zip/setup.exe',
    );
  });

  test('sync bucketAV form and binary: blocked is infected with a Policy finding; default is clean', async () => {
    for (const sample of samples) {
      const form = new FormData();
      form.set('file', new Blob([sample.data]), sample.name);
      const strict = await fetch(`${service.url}/api/v1/scan/sync/form`, {
        method: 'POST',
        headers: authHeaders(KEY_A),
        body: form,
      });
      assert.equal(strict.status, 200, sample.name);
      const body = await json<BucketAvBody>(strict);
      assert.equal(body.status, 'infected', `${sample.name}: ${JSON.stringify(body)}`);
      assert.match(body.finding ?? '', /^Policy\./);

      const plain = await fetch(`${service.url}/api/v1/scan/sync/binary`, {
        method: 'POST',
        headers: { ...authHeaders(KEY_B), 'content-type': 'application/octet-stream' },
        body: sample.data,
      });
      const plainBody = await json<BucketAvBody>(plain);
      assert.equal(plainBody.status, sample.name === 'secret.zip' ? 'no' : 'clean', sample.name);
    }
  });

  test('URL scans, sync and async: blocked under strict, passed by default', async () => {
    for (const sample of samples) {
      const url = `${files.origin}/${sample.name}`;
      const sync = await fetch(`${service.url}/api/v1/scan/sync/download`, {
        method: 'POST',
        headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
        body: JSON.stringify({ download_url: url }),
      });
      const syncBody = await json<BucketAvBody>(sync);
      assert.equal(syncBody.status, 'infected', `${sample.name}: ${JSON.stringify(syncBody)}`);
      assert.match(syncBody.finding ?? '', /^Policy\./);

      const submitted = await fetch(`${service.url}/v1/scans/url`, {
        method: 'POST',
        headers: { ...authHeaders(KEY_B), 'content-type': 'application/json' },
        body: JSON.stringify({ url }),
      });
      assert.equal(submitted.status, 202);
      const plain = await scanResult(((await submitted.json()) as NativeScan).id, KEY_B);
      assert.equal(plain.status, expectedDefault(sample.name), sample.name);

      // A default tenant may ask for "strict uploads" on one request.
      const narrowed = await fetch(`${service.url}/v1/scans/url`, {
        method: 'POST',
        headers: { ...authHeaders(KEY_B), 'content-type': 'application/json' },
        body: JSON.stringify({ url, policy: 'strict' }),
      });
      const blocked = await scanResult(((await narrowed.json()) as NativeScan).id, KEY_B);
      assert.equal(blocked.status, 'blocked', sample.name);
      assert.equal(blocked.rule, sample.rule, sample.name);
    }
  });

  test('members below the first zip level and in tar: blocked under strict through sync and async upload, passed by default', async () => {
    const nested = [
      {
        name: 'statements.zip',
        data: peInZipInZip(),
        rule: 'executables',
        evidence: 'executables: PE32 at member statements.zip/invoices.zip/setup.exe',
        finding: 'Policy.Executable',
      },
      {
        name: 'bundle.tar.gz',
        data: scriptInTarGz(),
        rule: 'scripts',
        evidence: 'scripts: script (/bin/sh) at member bundle.tar.gz/bundle/install.sh',
        finding: 'Policy.Script',
      },
      {
        name: 'notes.tar',
        data: traversalTar(),
        rule: 'unsafe_archives',
        evidence: 'unsafe_archives: path outside the archive at member notes.tar/../../etc/cron.d/evil',
        finding: 'Policy.UnsafeArchive',
      },
    ];
    for (const sample of nested) {
      const strict = await submitNativeUpload(service.url, sample.data, {
        key: KEY_A,
        filename: sample.name,
      });
      assert.equal(strict.status, 202, sample.name);
      const blocked = await scanResult(((await strict.json()) as NativeScan).id, KEY_A);
      assert.equal(blocked.status, 'blocked', `${sample.name}: ${JSON.stringify(blocked)}`);
      assert.equal(blocked.rule, sample.rule, sample.name);
      assert.equal(blocked.evidence, sample.evidence, sample.name);

      const plain = await submitNativeUpload(service.url, sample.data, { key: KEY_B, filename: sample.name });
      const judged = await scanResult(((await plain.json()) as NativeScan).id, KEY_B);
      assert.equal(judged.status, 'clean', `${sample.name}: ${JSON.stringify(judged)}`);

      const form = new FormData();
      form.set('file', new Blob([sample.data]), sample.name);
      const sync = await fetch(`${service.url}/api/v1/scan/sync/form`, {
        method: 'POST',
        headers: authHeaders(KEY_A),
        body: form,
      });
      assert.equal(sync.status, 200, sample.name);
      assert.deepEqual(await json<BucketAvBody>(sync), {
        status: 'infected',
        finding: sample.finding,
        size: sample.data.length,
        realfiletype: sample.name === 'bundle.tar.gz' ? 'tar.gz' : sample.name.split('.').pop(),
      });
      const plainSync = await fetch(`${service.url}/api/v1/scan/sync/binary`, {
        method: 'POST',
        headers: { ...authHeaders(KEY_B), 'content-type': 'application/octet-stream' },
        body: sample.data,
      });
      assert.equal((await json<BucketAvBody>(plainSync)).status, 'clean', sample.name);
    }
  });

  test('Bucketscan shows a blocked scan as completed_infected', async () => {
    const form = new FormData();
    form.set('file', new Blob([peExecutable()]), 'cv.pdf');
    const initiated = await fetch(`${service.url}/api/v1/scans/initiate`, {
      method: 'POST',
      headers: authHeaders(KEY_A, 'x-api-key'),
      body: form,
    });
    const { scanId } = await json<{ scanId: string }>(initiated);
    const status = await waitFor(async () => {
      const response = await fetch(`${service.url}/api/v1/scans/${scanId}`, {
        headers: authHeaders(KEY_A, 'x-api-key'),
      });
      const body = await json<{ scanResult: string }>(response);
      return body.scanResult === 'pending' ? undefined : body;
    });
    assert.equal(status.scanResult, 'completed_infected');
  });

  test('a request that widens the tenant policy is refused with 400 before any job exists', async () => {
    const upload = await submitNativeUpload(service.url, pdfDocument(), {
      key: KEY_A,
      filename: 'a.pdf',
      fields: { policy: 'default' },
    });
    assert.equal(upload.status, 400);
    assert.equal((await json(upload)).code, 'policy_wider_than_tenant');
    const url = await fetch(`${service.url}/v1/scans/url`, {
      method: 'POST',
      headers: { ...authHeaders(KEY_A), 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${files.origin}/x`, policy: { block: ['executables'] } }),
    });
    assert.equal(url.status, 400);
    assert.equal((await json(url)).code, 'policy_wider_than_tenant');
    const sync = await fetch(`${service.url}/api/v1/scan/sync/binary`, {
      method: 'POST',
      headers: {
        ...authHeaders(KEY_A),
        'content-type': 'application/octet-stream',
        'x-scangate-policy': '{"allowed_types":null}',
      },
      body: pdfDocument(),
    });
    assert.equal(sync.status, 400);
    assert.equal((await json(sync)).code, 'policy_wider_than_tenant');
    const list = await (
      await fetch(`${service.url}/v1/scans?limit=500`, { headers: authHeaders(KEY_A) })
    ).json();
    assert.ok(!JSON.stringify(list).includes('"a.pdf"'), 'no job was created');
  });

  test('malware wins over the policy, and a clean PDF passes strict', async () => {
    const zip = buildZip([
      { name: 'setup.exe', data: peExecutable() },
      { name: 'eicar.txt', data: eicarBytes() },
    ]);
    const infected = await submitNativeUpload(service.url, zip, { key: KEY_A, filename: 'mixed.zip' });
    const result = await scanResult(((await infected.json()) as NativeScan).id, KEY_A);
    assert.equal(result.status, 'infected');
    assert.match(result.finding ?? '', /^Eicar-Signature/);
    const pdf = await submitNativeUpload(service.url, pdfDocument(), { key: KEY_A, filename: 'cv.pdf' });
    assert.equal((await scanResult(((await pdf.json()) as NativeScan).id, KEY_A)).status, 'clean');
  });

  test('a format clamd cannot read stays unscannable under every policy, even with a refused member', async () => {
    // Zip64: clamd answers OK without reading the member; scangate's own signature makes it
    // unscannable. The policy never turns that into blocked (nor clean): the file was not judged.
    const zip64 = zipOf(peExecutable(), 'setup.exe', { zip64: true });
    for (const key of [KEY_A, KEY_B]) {
      const submitted = await submitNativeUpload(service.url, zip64, { key, filename: 'setup.zip' });
      const result = await scanResult(((await submitted.json()) as NativeScan).id, key);
      assert.equal(result.status, 'unscannable', JSON.stringify(result));
      assert.equal(result.reason, 'unsupported_format');
      assert.equal(result.rule, null);
    }
  });

  test('the verdict cache never carries one tenant policy to another', async () => {
    const exe = Buffer.concat([peExecutable(), Buffer.from(`cache-${Date.now()}`)]);
    const first = await submitNativeUpload(service.url, exe, { key: KEY_B, filename: 'tool.exe' });
    assert.equal((await scanResult(((await first.json()) as NativeScan).id, KEY_B)).status, 'clean');
    const second = await submitNativeUpload(service.url, exe, { key: KEY_A, filename: 'tool.exe' });
    const strict = await scanResult(((await second.json()) as NativeScan).id, KEY_A);
    assert.equal(strict.status, 'blocked');
    assert.equal(strict.cached, true, 'the same bytes were judged from the cache, under this policy');
  });
});

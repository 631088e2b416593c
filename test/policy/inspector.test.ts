import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { type ContentInspection, ContentInspector, isUnsafePath } from '../../src/policy/inspector.ts';
import {
  buildTar,
  buildZip,
  gnuTar,
  htmlWithScript,
  macroDocument,
  pdfDocument,
  peExecutable,
  peInZipInZip,
  pngImage,
  scriptInTarGz,
  shellScript,
  traversalTar,
  traversalZip,
  vbaProject,
  wordDocument,
  xmlWithExternalEntity,
  zipWithExecutable,
} from '../support/policy-samples.ts';

/** Inspects `data` fed in chunks of `size` bytes (1 exercises every seam). */
function inspect(data: Buffer, size = 65536): Promise<ContentInspection> {
  const inspector = new ContentInspector();
  for (let at = 0; at < data.length; at += size) inspector.push(data.subarray(at, at + size));
  return inspector.finish();
}

const rules = (inspection: ContentInspection) => inspection.findings.map((finding) => finding.rule).sort();

describe('content inspection of the streamed bytes', async () => {
  for (const size of [1, 7, 65536]) {
    it(`finds the same things whatever the chunk size (${size})`, async () => {
      const exe = await inspect(peExecutable(), size);
      assert.equal(exe.detectedType, 'pe');
      assert.equal(exe.typeLabel, 'PE32');
      assert.deepEqual(rules(exe), ['executables']);

      const zip = await inspect(zipWithExecutable(), size);
      assert.equal(zip.detectedType, 'zip');
      assert.equal(zip.archiveMembers, 2);
      assert.deepEqual(zip.findings, [{ rule: 'executables', detail: 'PE32', member: 'setup.exe' }]);

      const docm = await inspect(macroDocument(), size);
      assert.equal(docm.detectedType, 'docx');
      assert.deepEqual(rules(docm), ['macros']);

      assert.deepEqual(rules(await inspect(traversalZip(), size)), ['unsafe_archives']);
      assert.deepEqual(rules(await inspect(xmlWithExternalEntity(), size)), ['xml_external_entities']);
      assert.deepEqual(rules(await inspect(htmlWithScript(), size)), ['html', 'scripts']);
    });
  }

  it('tells harmless content from what a policy refuses', async () => {
    assert.deepEqual(await inspect(pdfDocument()), {
      version: 2,
      detectedType: 'pdf',
      typeLabel: 'PDF',
      ext: 'pdf',
      mime: 'application/pdf',
      findings: [],
    });
    assert.equal((await inspect(pngImage())).detectedType, 'png');
    const docx = await inspect(wordDocument());
    assert.equal(docx.detectedType, 'docx');
    assert.deepEqual(docx.findings, []);
    assert.equal((await inspect(Buffer.from('a,b,c\n1,2,3\n4,5,6\n'))).detectedType, 'csv');
    assert.equal((await inspect(Buffer.from('just words\n'))).detectedType, 'text');
    assert.equal((await inspect(Buffer.alloc(0))).detectedType, 'empty');
  });

  it('sees a script element and an external entity far past the head, split across chunks', async () => {
    const padding = Buffer.alloc(200_000, 'a');
    const html = Buffer.concat([
      Buffer.from('<html><body>'),
      padding,
      Buffer.from('<SCRIPT src=x></SCRIPT>'),
    ]);
    assert.ok(rules(await inspect(html, 4099)).includes('scripts'));
    const xml = Buffer.concat([Buffer.from('<?xml version="1.0"?><r>'), padding, xmlWithExternalEntity()]);
    assert.ok(rules(await inspect(xml, 4099)).includes('xml_external_entities'));
  });

  it('reads member types through deflate, and symlinks from the central directory', async () => {
    const zip = buildZip([
      { name: 'a/run', data: shellScript() },
      { name: 'link', data: Buffer.from('/etc/passwd'), deflate: false, unixMode: 0o120777 },
      { name: 'macro.bin', data: vbaProject() },
    ]);
    const found = await inspect(zip, 13);
    assert.deepEqual(rules(found), ['macros', 'scripts', 'unsafe_archives']);
    assert.equal(found.findings.find((finding) => finding.rule === 'unsafe_archives')?.member, 'link');
  });

  it('types a member from its first bytes even when it inflates like a bomb', async () => {
    const padded = Buffer.concat([peExecutable(), Buffer.alloc(8 * 1024 * 1024)]);
    const found = await inspect(buildZip([{ name: 'big/setup.exe', data: padded }]));
    assert.deepEqual(found.findings, [{ rule: 'executables', detail: 'PE32', member: 'big/setup.exe' }]);
  });

  it('ignores zip headers inside a file that is not a zip', async () => {
    const pdfWithZip = Buffer.concat([pdfDocument(), traversalZip()]);
    const found = await inspect(pdfWithZip);
    assert.equal(found.detectedType, 'pdf');
    assert.deepEqual(found.findings, []);
  });

  it('keeps names from the archive storable: no control characters, bounded length', async () => {
    const zip = buildZip([{ name: `../\u0000\u001b[31m${'x'.repeat(600)}`, data: Buffer.from('x') }]);
    const [finding] = (await inspect(zip)).findings;
    assert.equal(finding?.rule, 'unsafe_archives');
    assert.ok(!/\p{Cc}/u.test(finding?.member ?? ''), JSON.stringify(finding?.member));
    assert.ok((finding?.member?.length ?? 0) <= 257);
  });

  for (const size of [1, 4099, 65536]) {
    it(`opens nested archives: a zip in a zip, a tar.gz, a tar (chunks of ${size})`, async () => {
      const nested = await inspect(peInZipInZip(), size);
      assert.equal(nested.detectedType, 'zip');
      assert.deepEqual(nested.findings, [
        { rule: 'executables', detail: 'PE32', member: 'invoices.zip/setup.exe' },
      ]);
      assert.equal(nested.archiveMembers, 2, "the outer archive's own members");

      const tarGz = await inspect(scriptInTarGz(), size);
      assert.equal(tarGz.detectedType, 'gzip');
      assert.equal(tarGz.archiveMembers, 2, 'the members of the tar in the gzip');
      assert.deepEqual(tarGz.findings, [
        { rule: 'scripts', detail: 'script (/bin/sh)', member: 'bundle/install.sh' },
      ]);

      const tar = await inspect(traversalTar(), size);
      assert.equal(tar.detectedType, 'tar');
      assert.deepEqual(tar.findings, [
        { rule: 'unsafe_archives', detail: 'path outside the archive', member: '../../etc/cron.d/evil' },
      ]);
    });
  }

  it('judges members at every level: a docm in a tar in a zip, links in a tar, a PE in a gzip', async () => {
    const deep = buildZip([
      { name: 'docs.tar', data: buildTar([{ name: 'r.docm', data: macroDocument() }]) },
    ]);
    assert.deepEqual((await inspect(deep, 1000)).findings, [
      { rule: 'macros', detail: 'VBA project', member: 'docs.tar/r.docm/word/vbaProject.bin' },
    ]);
    const links = buildTar([{ name: 'passwd', type: '2', link: '/etc/passwd' }]);
    assert.deepEqual(rules(await inspect(links)), ['unsafe_archives']);
    const gz = await inspect(gzipSync(peExecutable()));
    assert.deepEqual(gz.findings, [{ rule: 'executables', detail: 'PE32', member: 'gzip content' }]);
  });

  for (const format of ['gnu', 'pax'] as const) {
    it(`reads a tar GNU tar wrote (${format} long names) and its symlink`, async () => {
      const { data, scriptPath } = await gnuTar(format);
      const found = await inspect(data, 4099);
      assert.equal(found.detectedType, 'tar');
      const script = found.findings.find((finding) => finding.rule === 'scripts');
      assert.deepEqual(script, { rule: 'scripts', detail: 'script (/bin/sh)', member: scriptPath });
      const link = found.findings.find((finding) => finding.rule === 'unsafe_archives');
      assert.deepEqual(link, { rule: 'unsafe_archives', detail: 'symbolic link member', member: './passwd' });
    });
  }

  it('a clean nested archive has no findings; nesting past the bound leaves the inspection incomplete', async () => {
    const clean = await inspect(
      buildZip([{ name: 'inner.zip', data: buildZip([{ name: 'a.txt', data: Buffer.from('hi\n') }]) }]),
    );
    assert.deepEqual(clean.findings, []);
    assert.equal(clean.incomplete, undefined);
    let matryoshka = buildZip([{ name: 'a.txt', data: Buffer.from('hi\n') }]);
    for (let level = 0; level < 18; level++)
      matryoshka = buildZip([{ name: `l${level}.zip`, data: matryoshka }]);
    assert.match((await inspect(matryoshka)).incomplete ?? '', /nested deeper than 17 levels/);
  });

  it('judges member paths', async () => {
    for (const name of ['../x', 'a/../../x', '/etc/passwd', 'C:\\x', '\\\\server\\x', 'a\\..\\x'])
      assert.ok(isUnsafePath(name), name);
    for (const name of ['a/b.txt', 'a..b', '.hidden', 'dir/'] as const) assert.ok(!isUnsafePath(name), name);
  });
});

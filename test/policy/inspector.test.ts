import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ContentInspection, ContentInspector, isUnsafePath } from '../../src/policy/inspector.ts';
import {
  buildZip,
  htmlWithScript,
  macroDocument,
  pdfDocument,
  peExecutable,
  pngImage,
  shellScript,
  traversalZip,
  vbaProject,
  wordDocument,
  xmlWithExternalEntity,
  zipWithExecutable,
} from '../support/policy-samples.ts';

/** Inspects `data` fed in chunks of `size` bytes (1 exercises every seam). */
function inspect(data: Buffer, size = 65536): ContentInspection {
  const inspector = new ContentInspector();
  for (let at = 0; at < data.length; at += size) inspector.push(data.subarray(at, at + size));
  return inspector.finish();
}

const rules = (inspection: ContentInspection) => inspection.findings.map((finding) => finding.rule).sort();

describe('content inspection of the streamed bytes', () => {
  for (const size of [1, 7, 65536]) {
    it(`finds the same things whatever the chunk size (${size})`, () => {
      const exe = inspect(peExecutable(), size);
      assert.equal(exe.detectedType, 'pe');
      assert.equal(exe.typeLabel, 'PE32');
      assert.deepEqual(rules(exe), ['executables']);

      const zip = inspect(zipWithExecutable(), size);
      assert.equal(zip.detectedType, 'zip');
      assert.equal(zip.archiveMembers, 2);
      assert.deepEqual(zip.findings, [{ rule: 'executables', detail: 'PE32', member: 'setup.exe' }]);

      const docm = inspect(macroDocument(), size);
      assert.equal(docm.detectedType, 'docx');
      assert.deepEqual(rules(docm), ['macros']);

      assert.deepEqual(rules(inspect(traversalZip(), size)), ['unsafe_archives']);
      assert.deepEqual(rules(inspect(xmlWithExternalEntity(), size)), ['xml_external_entities']);
      assert.deepEqual(rules(inspect(htmlWithScript(), size)), ['html', 'scripts']);
    });
  }

  it('tells harmless content from what a policy refuses', () => {
    assert.deepEqual(inspect(pdfDocument()), { detectedType: 'pdf', typeLabel: 'PDF', findings: [] });
    assert.equal(inspect(pngImage()).detectedType, 'png');
    const docx = inspect(wordDocument());
    assert.equal(docx.detectedType, 'docx');
    assert.deepEqual(docx.findings, []);
    assert.equal(inspect(Buffer.from('a,b,c\n1,2,3\n4,5,6\n')).detectedType, 'csv');
    assert.equal(inspect(Buffer.from('just words\n')).detectedType, 'text');
    assert.equal(inspect(Buffer.alloc(0)).detectedType, 'empty');
  });

  it('sees a script element and an external entity far past the head, split across chunks', () => {
    const padding = Buffer.alloc(200_000, 'a');
    const html = Buffer.concat([
      Buffer.from('<html><body>'),
      padding,
      Buffer.from('<SCRIPT src=x></SCRIPT>'),
    ]);
    assert.ok(rules(inspect(html, 4099)).includes('scripts'));
    const xml = Buffer.concat([Buffer.from('<?xml version="1.0"?><r>'), padding, xmlWithExternalEntity()]);
    assert.ok(rules(inspect(xml, 4099)).includes('xml_external_entities'));
  });

  it('reads member types through deflate, and symlinks from the central directory', () => {
    const zip = buildZip([
      { name: 'a/run', data: shellScript() },
      { name: 'link', data: Buffer.from('/etc/passwd'), deflate: false, unixMode: 0o120777 },
      { name: 'macro.bin', data: vbaProject() },
    ]);
    const found = inspect(zip, 13);
    assert.deepEqual(rules(found), ['macros', 'scripts', 'unsafe_archives']);
    assert.equal(found.findings.find((finding) => finding.rule === 'unsafe_archives')?.member, 'link');
  });

  it('types a member from its first bytes even when it inflates like a bomb', () => {
    const padded = Buffer.concat([peExecutable(), Buffer.alloc(8 * 1024 * 1024)]);
    const found = inspect(buildZip([{ name: 'big/setup.exe', data: padded }]));
    assert.deepEqual(found.findings, [{ rule: 'executables', detail: 'PE32', member: 'big/setup.exe' }]);
  });

  it('ignores zip headers inside a file that is not a zip', () => {
    const pdfWithZip = Buffer.concat([pdfDocument(), traversalZip()]);
    const found = inspect(pdfWithZip);
    assert.equal(found.detectedType, 'pdf');
    assert.deepEqual(found.findings, []);
  });

  it('keeps names from the archive storable: no control characters, bounded length', () => {
    const zip = buildZip([{ name: `../\u0000\u001b[31m${'x'.repeat(600)}`, data: Buffer.from('x') }]);
    const [finding] = inspect(zip).findings;
    assert.equal(finding?.rule, 'unsafe_archives');
    assert.ok(!/\p{Cc}/u.test(finding?.member ?? ''), JSON.stringify(finding?.member));
    assert.ok((finding?.member?.length ?? 0) <= 257);
  });

  it('judges member paths', () => {
    for (const name of ['../x', 'a/../../x', '/etc/passwd', 'C:\\x', '\\\\server\\x', 'a\\..\\x'])
      assert.ok(isUnsafePath(name), name);
    for (const name of ['a/b.txt', 'a..b', '.hidden', 'dir/'] as const) assert.ok(!isUnsafePath(name), name);
  });
});

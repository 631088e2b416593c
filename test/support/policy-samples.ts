import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';

/**
 * Samples for the content-policy tests, generated at test time (no binary is committed): each is
 * harmless, but of the kind a strict upload policy refuses.
 */

export interface ZipMember {
  name: string;
  data: Buffer;
  deflate?: boolean;
  /** Unix st_mode in the central directory (e.g. 0o120777 for a symlink). */
  unixMode?: number;
}

/** A minimal zip writer: local headers with sizes, central directory, end record. */
export function buildZip(members: ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const member of members) {
    const name = Buffer.from(member.name, 'utf8');
    const body = member.deflate === false ? member.data : deflateRawSync(member.data);
    const method = member.deflate === false ? 0 : 8;
    const crc = crc32(member.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(member.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(member.unixMode === undefined ? 20 : (3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(member.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((member.unixMode ?? 0) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A PE32 header skeleton: MZ stub, e_lfanew, `PE\0\0`, COFF header, optional-header magic 0x10b. */
export function peExecutable(): Buffer {
  const pe = Buffer.alloc(512);
  pe.write('MZ', 0, 'latin1');
  pe.writeUInt32LE(0x80, 60);
  pe.write('PE\0\0', 0x80, 'latin1');
  pe.writeUInt16LE(0x14c, 0x84); // i386
  pe.writeUInt16LE(0xe0, 0x94); // size of optional header
  pe.writeUInt16LE(0x10b, 0x98); // PE32
  return pe;
}

export function pngImage(): Buffer {
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    Buffer.from('0000000d49484452000000010000000108060000001f15c489', 'hex'),
    Buffer.from('0000000049454e44ae426082', 'hex'),
  ]);
}

export function pdfDocument(): Buffer {
  return Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
}

/** An OLE2 header with a `_VBA_PROJECT` directory name: what a vbaProject.bin looks like from outside. */
export function vbaProject(): Buffer {
  return Buffer.concat([
    Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]),
    Buffer.alloc(504),
    Buffer.from('_VBA_PROJECT', 'utf16le'),
    Buffer.alloc(64),
  ]);
}

/** `[Content_Types].xml` as Word writes it: the main part's content type tells docx from docm. */
function contentTypes(main: string): Buffer {
  return Buffer.from(
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="xml" ContentType="application/xml"/>' +
      `<Override PartName="/word/document.xml" ContentType="${main}.main+xml"/></Types>`,
  );
}

export function macroDocument(): Buffer {
  return buildZip([
    { name: '[Content_Types].xml', data: contentTypes('application/vnd.ms-word.document.macroEnabled') },
    { name: 'word/document.xml', data: Buffer.from('<?xml version="1.0"?><w:document/>') },
    { name: 'word/vbaProject.bin', data: vbaProject() },
  ]);
}

export function wordDocument(): Buffer {
  return buildZip([
    {
      name: '[Content_Types].xml',
      data: contentTypes('application/vnd.openxmlformats-officedocument.wordprocessingml.document'),
    },
    { name: 'word/document.xml', data: Buffer.from('<?xml version="1.0"?><w:document/>') },
  ]);
}

export const shellScript = (): Buffer => Buffer.from('#!/bin/sh\necho "hello"\n');
export const htmlWithScript = (): Buffer =>
  Buffer.from('<!DOCTYPE html>\n<html><body><p>hi</p><script>alert(1)</script></body></html>\n');
export const xmlWithExternalEntity = (): Buffer =>
  Buffer.from(
    '<?xml version="1.0"?>\n<!DOCTYPE r [\n  <!ENTITY x SYSTEM "file:///etc/passwd">\n]>\n<r>&x;</r>\n',
  );
export const traversalZip = (): Buffer =>
  buildZip([
    { name: 'readme.txt', data: Buffer.from('hello\n') },
    { name: '../../etc/cron.d/evil', data: Buffer.from('* * * * * root true\n') },
  ]);
export const zipPretendingPng = (): Buffer =>
  buildZip([{ name: 'image.txt', data: Buffer.from('not a png\n') }]);
export const zipWithExecutable = (): Buffer =>
  buildZip([
    { name: 'invoice.pdf', data: pdfDocument() },
    { name: 'setup.exe', data: peExecutable() },
  ]);

export interface TarMember {
  name: string;
  data?: Buffer;
  /** ustar type flag: `0` file (default), `2` symlink, `5` directory. */
  type?: '0' | '2' | '5';
  link?: string;
}

/** A minimal ustar writer: a 512-byte header per member, data padded to 512, two zero blocks. */
export function buildTar(members: TarMember[]): Buffer {
  const blocks: Buffer[] = [];
  for (const member of members) {
    const data = member.data ?? Buffer.alloc(0);
    const header = Buffer.alloc(512);
    header.write(member.name, 0, 100, 'utf8');
    header.write('0000644\0', 100, 'latin1');
    header.write('0000000\0', 108, 'latin1');
    header.write('0000000\0', 116, 'latin1');
    header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    header.write('00000000000\0', 136, 'latin1');
    header.write('        ', 148, 'latin1');
    header.write(member.type ?? '0', 156, 'latin1');
    if (member.link) header.write(member.link, 157, 100, 'utf8');
    header.write('ustar\0' + '00', 257, 'latin1');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  return Buffer.concat([...blocks, Buffer.alloc(1024)]);
}

/** A PE inside a zip inside a zip (both deflated): only opening the inner zip shows it. */
export const peInZipInZip = (): Buffer =>
  buildZip([
    { name: 'readme.txt', data: Buffer.from('quarterly invoices\n') },
    { name: 'invoices.zip', data: zipWithExecutable() },
  ]);
/** A shell script in a tar.gz: the outer bytes are gzip, the tar headers are inside. */
export const scriptInTarGz = (): Buffer =>
  gzipSync(
    buildTar([
      { name: 'bundle/README', data: Buffer.from('read me\n') },
      { name: 'bundle/install.sh', data: shellScript() },
    ]),
  );
/** A tar whose member writes outside the folder it is extracted into. */
export const traversalTar = (): Buffer =>
  buildTar([
    { name: 'notes.txt', data: Buffer.from('hello\n') },
    { name: '../../etc/cron.d/evil', data: Buffer.from('* * * * * root true\n') },
  ]);

const run = promisify(execFile);

/** A zip whose one member is encrypted with ZipCrypto, by Info-ZIP's `zip -P`. */
export async function encryptedZip(): Promise<Buffer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'scangate-policy-'));
  try {
    await writeFile(path.join(dir, 'secret.txt'), 'nothing to see\n');
    await run('zip', ['-q', '-X', '-P', 'policy-secret', 'secret.zip', 'secret.txt'], { cwd: dir });
    return await readFile(path.join(dir, 'secret.zip'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A tar written by GNU tar in `format` (gnu: long names as `L` records; pax: `path=` records): a
 * script under a directory name longer than ustar's 100 bytes, and a symlink.
 */
export async function gnuTar(format: 'gnu' | 'pax'): Promise<{ data: Buffer; scriptPath: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'scangate-tar-'));
  try {
    const scriptPath = `${'long-directory-name-'.repeat(6)}/install.sh`;
    await mkdir(path.join(dir, 'src', path.dirname(scriptPath)), { recursive: true });
    await writeFile(path.join(dir, 'src', scriptPath), shellScript());
    await symlink('/etc/passwd', path.join(dir, 'src', 'passwd'));
    await run('tar', [
      '-C',
      path.join(dir, 'src'),
      `--format=${format}`,
      '-cf',
      path.join(dir, 'out.tar'),
      '.',
    ]);
    return { data: await readFile(path.join(dir, 'out.tar')), scriptPath: `./${scriptPath}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The sample set: name → bytes, each blocked by "strict uploads" and clean by default. */
export async function strictSamples(): Promise<{ name: string; data: Buffer; rule: string }[]> {
  return [
    { name: 'invoice.pdf', data: peExecutable(), rule: 'executables' },
    { name: 'report.docm', data: macroDocument(), rule: 'macros' },
    { name: 'install.sh', data: shellScript(), rule: 'scripts' },
    { name: 'page.html', data: htmlWithScript(), rule: 'scripts' },
    { name: 'secret.zip', data: await encryptedZip(), rule: 'encrypted' },
    { name: 'archive.zip', data: traversalZip(), rule: 'unsafe_archives' },
    { name: 'data.xml', data: xmlWithExternalEntity(), rule: 'xml_external_entities' },
    { name: 'photo.png', data: zipPretendingPng(), rule: 'invalid' },
  ];
}

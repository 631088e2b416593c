/**
 * True file types, told from content (magic bytes), never from the name or a declared Content-Type.
 * Deliberately small: the types a policy allows or refuses, plus `binary` for everything else.
 */
export const FILE_TYPES = [
  'pdf',
  'png',
  'jpeg',
  'gif',
  'webp',
  'bmp',
  'tiff',
  'zip',
  'docx',
  'xlsx',
  'pptx',
  'odt',
  'ods',
  'odp',
  'jar',
  'ole2',
  'rtf',
  'gzip',
  'bzip2',
  'xz',
  '7z',
  'rar',
  'tar',
  'pe',
  'msdos',
  'elf',
  'macho',
  'script',
  'html',
  'xml',
  'svg',
  'csv',
  'text',
  'empty',
  'binary',
] as const;
export type FileType = (typeof FILE_TYPES)[number];

export const EXECUTABLE_TYPES: ReadonlySet<FileType> = new Set(['pe', 'msdos', 'elf', 'macho']);
const ZIP_FAMILY: ReadonlySet<FileType> = new Set([
  'zip',
  'docx',
  'xlsx',
  'pptx',
  'odt',
  'ods',
  'odp',
  'jar',
]);
const TEXT_FAMILY: ReadonlySet<FileType> = new Set(['text', 'csv', 'html', 'xml', 'svg', 'script']);

export interface DetectedType {
  type: FileType;
  /** What a person reads in evidence: `PE32+`, `ELF`, `ZIP`, … */
  label: string;
}

const startsWith = (head: Buffer, bytes: number[], at = 0): boolean =>
  head.length >= at + bytes.length && bytes.every((byte, index) => head[at + index] === byte);
const ascii = (head: Buffer, text: string, at = 0): boolean =>
  head.length >= at + text.length && head.toString('latin1', at, at + text.length) === text;

/** The type of content whose first bytes (ideally 64 KiB, fewer when the content is shorter) are `head`. */
export function detectType(head: Buffer): DetectedType {
  if (head.length === 0) return { type: 'empty', label: 'empty' };
  const executable = detectExecutable(head);
  if (executable) return executable;
  if (ascii(head, '%PDF-') || head.subarray(0, 1024).includes('%PDF-')) return { type: 'pdf', label: 'PDF' };
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    return { type: 'png', label: 'PNG' };
  if (startsWith(head, [0xff, 0xd8, 0xff])) return { type: 'jpeg', label: 'JPEG' };
  if (ascii(head, 'GIF87a') || ascii(head, 'GIF89a')) return { type: 'gif', label: 'GIF' };
  if (ascii(head, 'RIFF') && ascii(head, 'WEBP', 8)) return { type: 'webp', label: 'WebP' };
  if (ascii(head, 'BM') && head.length >= 26 && head.readUInt32LE(14) >= 12 && head.readUInt32LE(14) <= 124)
    return { type: 'bmp', label: 'BMP' };
  if (ascii(head, 'II*\0') || ascii(head, 'MM\0*')) return { type: 'tiff', label: 'TIFF' };
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]) || startsWith(head, [0x50, 0x4b, 0x05, 0x06]))
    return { type: 'zip', label: 'ZIP' };
  if (startsWith(head, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]))
    return { type: 'ole2', label: 'OLE2 compound document' };
  if (ascii(head, '{\\rtf')) return { type: 'rtf', label: 'RTF' };
  if (startsWith(head, [0x1f, 0x8b])) return { type: 'gzip', label: 'gzip' };
  if (ascii(head, 'BZh')) return { type: 'bzip2', label: 'bzip2' };
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return { type: 'xz', label: 'xz' };
  if (startsWith(head, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return { type: '7z', label: '7-Zip' };
  if (ascii(head, 'Rar!\x1a\x07')) return { type: 'rar', label: 'RAR' };
  if (ascii(head, 'ustar', 257)) return { type: 'tar', label: 'tar' };
  if (ascii(head, '#!')) return { type: 'script', label: `script (${shebangOf(head)})` };
  return detectText(head);
}

function detectExecutable(head: Buffer): DetectedType | undefined {
  if (ascii(head, 'MZ')) {
    const peOffset = head.length >= 64 ? head.readUInt32LE(60) : -1;
    if (peOffset >= 64 && peOffset + 26 <= head.length && ascii(head, 'PE\0\0', peOffset)) {
      const magic = head.readUInt16LE(peOffset + 24);
      return { type: 'pe', label: magic === 0x20b ? 'PE32+' : 'PE32' };
    }
    return { type: 'msdos', label: 'MS-DOS executable' };
  }
  if (startsWith(head, [0x7f, 0x45, 0x4c, 0x46]))
    return { type: 'elf', label: head[4] === 2 ? 'ELF64' : 'ELF32' };
  const machO = [
    [0xfe, 0xed, 0xfa, 0xce],
    [0xfe, 0xed, 0xfa, 0xcf],
    [0xce, 0xfa, 0xed, 0xfe],
    [0xcf, 0xfa, 0xed, 0xfe],
  ];
  if (machO.some((magic) => startsWith(head, magic))) return { type: 'macho', label: 'Mach-O' };
  // 0xCAFEBABE is a universal Mach-O or a Java class file; the architecture count tells them apart.
  if (startsWith(head, [0xca, 0xfe, 0xba, 0xbe]) && head.length >= 8 && head.readUInt32BE(4) < 20)
    return { type: 'macho', label: 'Mach-O universal' };
  return undefined;
}

function shebangOf(head: Buffer): string {
  const line =
    head
      .subarray(2, 120)
      .toString('latin1')
      .split(/[\r\n]/)[0] ?? '';
  return printable(line.trim().split(/\s+/).slice(0, 2).join(' ')) || 'shebang';
}

/**
 * Text taken from content (member names, shebangs, URL paths) as it may be stored and shown:
 * control characters replaced (PostgreSQL cannot store U+0000; logs and terminals should not get
 * escape sequences), and at most `max` characters.
 */
export function printable(text: string, max = 256): string {
  const clean = text.replace(/\p{Cc}/gu, '\uFFFD');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

function detectText(head: Buffer): DetectedType {
  if (head.includes(0)) {
    // UTF-16 text has NULs; everything else with a NUL in its head is binary.
    return { type: 'binary', label: 'binary data' };
  }
  const text = head.toString('utf8').replace(/^\uFEFF/, '');
  if (hasControlBytes(head.subarray(0, 4096))) return { type: 'binary', label: 'binary data' };
  const start = text.trimStart().slice(0, 1024).toLowerCase();
  if (
    start.startsWith('<!doctype html') ||
    start.startsWith('<html') ||
    /<(head|body|script)[\s>]/.test(start)
  )
    return { type: 'html', label: 'HTML' };
  if (start.startsWith('<svg') || (start.startsWith('<?xml') && /<svg[\s>]/.test(start)))
    return { type: 'svg', label: 'SVG' };
  if (start.startsWith('<?xml') || /^<!doctype [a-z]/.test(start) || /^<[a-z_][\w.-]*[\s>/]/.test(start))
    return { type: 'xml', label: 'XML' };
  if (looksLikeCsv(text)) return { type: 'csv', label: 'CSV' };
  return { type: 'text', label: 'text' };
}

/** Control bytes that text does not hold (tab, LF, VT, FF, CR and ESC are text). */
function hasControlBytes(bytes: Buffer): boolean {
  for (const byte of bytes) {
    if (byte < 0x20 && !(byte >= 0x09 && byte <= 0x0d) && byte !== 0x1b) return true;
  }
  return false;
}

function looksLikeCsv(text: string): boolean {
  const lines = text.split(/\r?\n/, 6).filter((line) => line.length > 0);
  if (lines.length < 2) return false;
  const commas = lines.map((line) => line.split(',').length);
  return commas[0]! > 1 && commas.every((count) => count === commas[0]);
}

/** A zip is refined by its member names: OOXML and OpenDocument are zips with known members. */
export function refineZipType(memberNames: readonly string[], mimetype?: string): DetectedType {
  if (mimetype?.includes('opendocument.text')) return { type: 'odt', label: 'OpenDocument text' };
  if (mimetype?.includes('opendocument.spreadsheet'))
    return { type: 'ods', label: 'OpenDocument spreadsheet' };
  if (mimetype?.includes('opendocument.presentation'))
    return { type: 'odp', label: 'OpenDocument presentation' };
  const has = (prefix: string) => memberNames.some((name) => name.startsWith(prefix));
  if (has('[Content_Types].xml')) {
    if (has('word/')) return { type: 'docx', label: 'Word (OOXML)' };
    if (has('xl/')) return { type: 'xlsx', label: 'Excel (OOXML)' };
    if (has('ppt/')) return { type: 'pptx', label: 'PowerPoint (OOXML)' };
  }
  if (has('META-INF/MANIFEST.MF')) return { type: 'jar', label: 'Java archive' };
  return { type: 'zip', label: 'ZIP' };
}

/** What content a file name's extension promises; undefined when the extension promises nothing we check. */
const TYPES_BY_EXTENSION: Record<string, FileType[]> = {
  pdf: ['pdf'],
  png: ['png'],
  jpg: ['jpeg'],
  jpeg: ['jpeg'],
  gif: ['gif'],
  webp: ['webp'],
  bmp: ['bmp'],
  tif: ['tiff'],
  tiff: ['tiff'],
  zip: [...ZIP_FAMILY],
  docx: ['docx'],
  docm: ['docx'],
  xlsx: ['xlsx'],
  xlsm: ['xlsx'],
  pptx: ['pptx'],
  pptm: ['pptx'],
  odt: ['odt'],
  ods: ['ods'],
  odp: ['odp'],
  jar: ['jar', 'zip'],
  doc: ['ole2'],
  xls: ['ole2'],
  ppt: ['ole2'],
  msg: ['ole2'],
  rtf: ['rtf'],
  gz: ['gzip'],
  tgz: ['gzip'],
  bz2: ['bzip2'],
  xz: ['xz'],
  '7z': ['7z'],
  rar: ['rar'],
  tar: ['tar'],
  exe: ['pe', 'msdos'],
  dll: ['pe'],
  txt: [...TEXT_FAMILY],
  md: [...TEXT_FAMILY],
  log: [...TEXT_FAMILY],
  json: ['text'],
  csv: ['csv', 'text'],
  htm: ['html', 'xml'],
  html: ['html', 'xml'],
  xml: ['xml', 'svg'],
  svg: ['svg', 'xml'],
  sh: ['script', 'text'],
};

export function extensionOf(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const base = name.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 && dot < base.length - 1 ? base.slice(dot + 1).toLowerCase() : undefined;
}

/** True when the declared name's extension promises a type other than the one detected. */
export function contradictsExtension(name: string | undefined, detected: FileType): boolean {
  const extension = extensionOf(name);
  if (!extension || detected === 'empty') return false;
  const expected = TYPES_BY_EXTENSION[extension];
  return expected !== undefined && !expected.includes(detected);
}

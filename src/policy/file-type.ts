import { fileTypeFromBuffer } from 'file-type';

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
  /** The usual extension and media type (`exe`, `application/x-msdownload`); absent for unknown binary data and empty content. */
  ext?: string;
  mime?: string;
}

/** The `file-type` library's answers in the policy's coarser vocabulary; unlisted answers are `binary`. */
const TYPE_OF_EXTENSION: Record<string, { type: FileType; label: string }> = {
  pdf: { type: 'pdf', label: 'PDF' },
  png: { type: 'png', label: 'PNG' },
  apng: { type: 'png', label: 'PNG (animated)' },
  jpg: { type: 'jpeg', label: 'JPEG' },
  gif: { type: 'gif', label: 'GIF' },
  webp: { type: 'webp', label: 'WebP' },
  bmp: { type: 'bmp', label: 'BMP' },
  tif: { type: 'tiff', label: 'TIFF' },
  zip: { type: 'zip', label: 'ZIP' },
  docx: { type: 'docx', label: 'Word (OOXML)' },
  docm: { type: 'docx', label: 'Word (OOXML, macro-enabled)' },
  dotx: { type: 'docx', label: 'Word template (OOXML)' },
  dotm: { type: 'docx', label: 'Word template (OOXML, macro-enabled)' },
  xlsx: { type: 'xlsx', label: 'Excel (OOXML)' },
  xlsm: { type: 'xlsx', label: 'Excel (OOXML, macro-enabled)' },
  xltx: { type: 'xlsx', label: 'Excel template (OOXML)' },
  xltm: { type: 'xlsx', label: 'Excel template (OOXML, macro-enabled)' },
  pptx: { type: 'pptx', label: 'PowerPoint (OOXML)' },
  pptm: { type: 'pptx', label: 'PowerPoint (OOXML, macro-enabled)' },
  ppsx: { type: 'pptx', label: 'PowerPoint show (OOXML)' },
  ppsm: { type: 'pptx', label: 'PowerPoint show (OOXML, macro-enabled)' },
  potx: { type: 'pptx', label: 'PowerPoint template (OOXML)' },
  potm: { type: 'pptx', label: 'PowerPoint template (OOXML, macro-enabled)' },
  odt: { type: 'odt', label: 'OpenDocument text' },
  ott: { type: 'odt', label: 'OpenDocument text template' },
  ods: { type: 'ods', label: 'OpenDocument spreadsheet' },
  ots: { type: 'ods', label: 'OpenDocument spreadsheet template' },
  odp: { type: 'odp', label: 'OpenDocument presentation' },
  otp: { type: 'odp', label: 'OpenDocument presentation template' },
  jar: { type: 'jar', label: 'Java archive' },
  cfb: { type: 'ole2', label: 'OLE2 compound document' },
  rtf: { type: 'rtf', label: 'RTF' },
  gz: { type: 'gzip', label: 'gzip' },
  'tar.gz': { type: 'gzip', label: 'gzip (tar)' },
  bz2: { type: 'bzip2', label: 'bzip2' },
  xz: { type: 'xz', label: 'xz' },
  '7z': { type: '7z', label: '7-Zip' },
  rar: { type: 'rar', label: 'RAR' },
  tar: { type: 'tar', label: 'tar' },
  elf: { type: 'elf', label: 'ELF' },
  macho: { type: 'macho', label: 'Mach-O' },
  xml: { type: 'xml', label: 'XML' },
};

/** Types `file-type` cannot see (it reads magic numbers; text has none), told here from the text itself. */
const TEXT_MEDIA: Partial<Record<FileType, { ext: string; mime: string }>> = {
  html: { ext: 'html', mime: 'text/html' },
  svg: { ext: 'svg', mime: 'image/svg+xml' },
  xml: { ext: 'xml', mime: 'application/xml' },
  csv: { ext: 'csv', mime: 'text/csv' },
  text: { ext: 'txt', mime: 'text/plain' },
};
const SCRIPT_MEDIA: Record<string, { ext: string; mime: string }> = {
  sh: { ext: 'sh', mime: 'text/x-shellscript' },
  bash: { ext: 'sh', mime: 'text/x-shellscript' },
  dash: { ext: 'sh', mime: 'text/x-shellscript' },
  zsh: { ext: 'sh', mime: 'text/x-shellscript' },
  python: { ext: 'py', mime: 'text/x-python' },
  python3: { ext: 'py', mime: 'text/x-python' },
  perl: { ext: 'pl', mime: 'text/x-perl' },
  ruby: { ext: 'rb', mime: 'text/x-ruby' },
  node: { ext: 'js', mime: 'text/javascript' },
  php: { ext: 'php', mime: 'application/x-httpd-php' },
};

const startsWith = (head: Buffer, bytes: number[], at = 0): boolean =>
  head.length >= at + bytes.length && bytes.every((byte, index) => head[at + index] === byte);
const ascii = (head: Buffer, text: string, at = 0): boolean =>
  head.length >= at + text.length && head.toString('latin1', at, at + text.length) === text;

/**
 * The one type detection every answer and every rule uses, for the file and for each archive member:
 * the `file-type` library on the content's first bytes (ideally 64 KiB, fewer when the content is
 * shorter), refined where it cannot see — an MZ executable's PE header (PE32, PE32+ or plain
 * MS-DOS), SVG and HTML behind an XML declaration, a PDF whose `%PDF-` is not at offset 0 — and the
 * text types (scripts, HTML, SVG, XML, CSV, text), which have no magic number.
 */
export async function detectType(head: Buffer): Promise<DetectedType> {
  if (head.length === 0) return { type: 'empty', label: 'empty' };
  let library: Awaited<ReturnType<typeof fileTypeFromBuffer>>;
  try {
    library = await fileTypeFromBuffer(head);
  } catch {
    // A head cut mid-structure can make a parser give up: that is "no answer", decided below.
    library = undefined;
  }
  if (library) {
    const media = { ext: library.ext, mime: library.mime };
    if (library.ext === 'exe') return { ...executableHeader(head), ...media };
    if (library.ext === 'elf') return { type: 'elf', label: head[4] === 2 ? 'ELF64' : 'ELF32', ...media };
    if (library.ext === 'xml') {
      // An XML declaration may open an SVG image or an XHTML page: the text tells which.
      const text = detectText(head);
      if (text.type === 'svg' || text.type === 'html') return withMedia(text);
    }
    const known = TYPE_OF_EXTENSION[library.ext];
    return known ? { ...known, ...media } : { type: 'binary', label: library.ext.toUpperCase(), ...media };
  }
  if (head.subarray(0, 1024).includes('%PDF-'))
    return { type: 'pdf', label: 'PDF', ext: 'pdf', mime: 'application/pdf' };
  if (ascii(head, '#!')) {
    const interpreter = shebangOf(head);
    const command = interpreter.split(' ').find((word) => !word.endsWith('/env')) ?? '';
    const media = SCRIPT_MEDIA[command.split('/').pop() ?? ''] ?? { ext: 'txt', mime: 'text/plain' };
    return { type: 'script', label: `script (${interpreter})`, ...media };
  }
  return withMedia(detectText(head));
}

function withMedia(detected: DetectedType): DetectedType {
  const media = TEXT_MEDIA[detected.type];
  return media ? { ...detected, ...media } : detected;
}

/** Containers the inspection opens to judge their members; told from the first 512 bytes. */
export type ContainerKind = 'zip' | 'gzip' | 'tar';

export function containerOf(head: Buffer): ContainerKind | undefined {
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) return 'zip';
  if (startsWith(head, [0x1f, 0x8b, 0x08])) return 'gzip';
  if (ascii(head, 'ustar', 257)) return 'tar';
  return undefined;
}

/** Whether streamed content is text (searched for `<script` and entities): no NUL or control byte in its head. */
export function looksLikeText(head: Buffer): boolean {
  return head.length > 0 && !head.includes(0) && !hasControlBytes(head.subarray(0, 4096));
}

export const OLE2_MAGIC = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);

/** The library says "exe" for any MZ header; the PE header tells PE32, PE32+ and plain MS-DOS apart. */
function executableHeader(head: Buffer): DetectedType {
  const peOffset = head.length >= 64 ? head.readUInt32LE(60) : -1;
  if (peOffset >= 64 && peOffset + 26 <= head.length && ascii(head, 'PE\0\0', peOffset)) {
    const magic = head.readUInt16LE(peOffset + 24);
    return { type: 'pe', label: magic === 0x20b ? 'PE32+' : 'PE32' };
  }
  return { type: 'msdos', label: 'MS-DOS executable' };
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

import {
  type DetectedType,
  detectType,
  EXECUTABLE_TYPES,
  type FileType,
  printable,
  refineZipType,
} from './file-type.ts';
import type { PolicySwitch } from './policy.ts';
import { ZipHeaderScanner, type ZipMemberHeader } from './zip-headers.ts';

/** The outer file's first bytes kept to tell its type. */
const HEAD_BYTES = 64 * 1024;
/** Text carried from one chunk to the next so a construct split across chunks is still seen. */
const TEXT_SEAM = 512;
const TEXT_TYPES: ReadonlySet<FileType> = new Set(['html', 'xml', 'svg', 'text', 'csv', 'script']);
const ZIP_TYPES: ReadonlySet<FileType> = new Set(['zip', 'docx', 'xlsx', 'pptx', 'odt', 'ods', 'odp', 'jar']);
const SCRIPT_ELEMENT = /<script[\s>/]/i;
// An entity declaration that pulls content from outside the document: `<!ENTITY [%] name SYSTEM|PUBLIC`.
const EXTERNAL_ENTITY = /<!ENTITY\s+(?:%\s*)?[^\s>]+\s+(?:SYSTEM|PUBLIC)\b/;
/** An OLE2 document with VBA holds a `_VBA_PROJECT` stream; directory names are UTF-16LE. */
const VBA_STREAM = Buffer.from('_VBA_PROJECT', 'utf16le');

/** A fact about the content, independent of any policy: the policy decides whether it blocks. */
export interface ContentFinding {
  rule: Exclude<PolicySwitch, 'invalid'>;
  detail: string;
  /** The archive member it was found in (one zip level), absent for the file itself. */
  member?: string;
}

export interface ContentInspection {
  detectedType: FileType;
  typeLabel: string;
  findings: ContentFinding[];
  /** Members of the outer zip (local headers seen); absent when the file is no zip. */
  archiveMembers?: number;
  /** The inspection itself failed (a bug, not the content's fault): a policy cannot rely on it. */
  failed?: true;
}

/**
 * Watches the bytes of one scan as they stream to clamd (never a second read) and records what a
 * content policy may refuse: the true type, executables, scripts, macros, encryption, unsafe zip
 * paths, external XML entities. Memory is bounded whatever the size: the 64 KiB head, a seam per
 * search, and the zip headers (each with a bounded member head) in flight. One finding per rule is
 * kept: the first is evidence enough.
 */
export class ContentInspector {
  #head: Buffer[] = [];
  #headLength = 0;
  #type: DetectedType | undefined;
  #textSeam = '';
  #binarySeam = Buffer.alloc(0);
  readonly #findings = new Map<ContentFinding['rule'], ContentFinding>();
  readonly #zip: ZipHeaderScanner;
  readonly #memberNames: string[] = [];
  #members = 0;
  #opendocumentMimetype: string | undefined;

  constructor() {
    this.#zip = new ZipHeaderScanner({
      member: (header) => this.#onMember(header),
      symlink: (name) => this.#add({ rule: 'unsafe_archives', detail: 'symbolic link member', member: name }),
    });
  }

  #failed = false;

  /** Never throws: it runs inside the clamd stream loop, where a throw would fail the malware scan. */
  push(chunk: Buffer): void {
    if (this.#failed || chunk.length === 0) return;
    try {
      this.#push(chunk);
    } catch {
      this.#failed = true;
    }
  }

  #push(chunk: Buffer): void {
    this.#zip.push(chunk);
    if (this.#type !== undefined) {
      this.#searchContent(chunk);
      return;
    }
    const room = HEAD_BYTES - this.#headLength;
    this.#head.push(Buffer.from(chunk.subarray(0, room)));
    this.#headLength += Math.min(chunk.length, room);
    if (this.#headLength < HEAD_BYTES) return;
    this.#searchContent(this.#typeTheHead());
    if (chunk.length > room) this.#searchContent(chunk.subarray(room));
  }

  finish(): ContentInspection {
    try {
      return this.#finish();
    } catch {
      this.#failed = true;
      return { detectedType: 'binary', typeLabel: 'unknown', findings: [], failed: true };
    }
  }

  #finish(): ContentInspection {
    if (this.#failed) return { detectedType: 'binary', typeLabel: 'unknown', findings: [], failed: true };
    this.#zip.finish();
    if (this.#type === undefined) this.#searchContent(this.#typeTheHead());
    let type = this.#type!;
    const inspection: ContentInspection = { detectedType: type.type, typeLabel: type.label, findings: [] };
    if (ZIP_TYPES.has(type.type)) {
      type = refineZipType(this.#memberNames, this.#opendocumentMimetype);
      inspection.detectedType = type.type;
      inspection.typeLabel = type.label;
      inspection.archiveMembers = this.#members;
    }
    const isZip = ZIP_TYPES.has(type.type);
    // Zip headers in a file that is not a zip are bytes inside something else (compressed data, an
    // embedded resource): their members are not this file's members.
    inspection.findings = [...this.#findings.values()].filter(
      (finding) => isZip || finding.member === undefined,
    );
    if (EXECUTABLE_TYPES.has(type.type))
      inspection.findings.unshift({ rule: 'executables', detail: type.label });
    if (type.type === 'script') inspection.findings.unshift({ rule: 'scripts', detail: type.label });
    if (type.type === 'html') inspection.findings.unshift({ rule: 'html', detail: 'HTML page' });
    return inspection;
  }

  #typeTheHead(): Buffer {
    const head = Buffer.concat(this.#head, this.#headLength);
    this.#head = [];
    this.#type = detectType(head);
    return head;
  }

  #searchContent(bytes: Buffer): void {
    const type = this.#type!.type;
    if (TEXT_TYPES.has(type)) this.#searchText(bytes.toString('latin1'), undefined);
    else if (type === 'ole2') this.#searchVba(bytes);
  }

  #searchText(text: string, member: string | undefined): void {
    const window = member === undefined ? this.#textSeam + text : text;
    if (!this.#findings.has('scripts') && SCRIPT_ELEMENT.test(window)) {
      this.#add(withMember({ rule: 'scripts', detail: '<script> element' }, member));
    }
    if (!this.#findings.has('xml_external_entities') && EXTERNAL_ENTITY.test(window)) {
      this.#add(withMember({ rule: 'xml_external_entities', detail: 'external entity declaration' }, member));
    }
    if (member === undefined) this.#textSeam = window.slice(-TEXT_SEAM);
  }

  #searchVba(bytes: Buffer): void {
    if (this.#findings.has('macros')) return;
    const window = Buffer.concat([this.#binarySeam, bytes.subarray(0, VBA_STREAM.length)]);
    if (window.includes(VBA_STREAM) || bytes.includes(VBA_STREAM)) {
      this.#add({ rule: 'macros', detail: 'OLE2 document with a VBA project' });
      return;
    }
    this.#binarySeam = Buffer.from(
      Buffer.concat([this.#binarySeam, bytes.subarray(-VBA_STREAM.length)]).subarray(-VBA_STREAM.length),
    );
  }

  #onMember(header: ZipMemberHeader): void {
    this.#members++;
    if (this.#memberNames.length < 64) this.#memberNames.push(header.name);
    // The name is stored and shown as evidence: bounded, whatever the archive says.
    const name = printable(header.name);
    if (isUnsafePath(name))
      this.#add({ rule: 'unsafe_archives', detail: 'path outside the archive', member: name });
    if (header.encrypted) this.#add({ rule: 'encrypted', detail: 'password-protected member', member: name });
    if (/(^|\/)vbaProject\.bin$/i.test(name))
      this.#add({ rule: 'macros', detail: 'VBA project', member: name });
    if (name === 'mimetype' && header.head)
      this.#opendocumentMimetype = header.head.toString('latin1', 0, 100);
    if (!header.head || header.head.length === 0) return;
    const type = detectType(header.head);
    if (EXECUTABLE_TYPES.has(type.type)) this.#add({ rule: 'executables', detail: type.label, member: name });
    else if (type.type === 'script') this.#add({ rule: 'scripts', detail: type.label, member: name });
    else if (type.type === 'ole2' && header.head.includes(VBA_STREAM))
      this.#add({ rule: 'macros', detail: 'OLE2 document with a VBA project', member: name });
    if (type.type === 'html') this.#add({ rule: 'html', detail: 'HTML page', member: name });
    if (TEXT_TYPES.has(type.type)) this.#searchText(header.head.toString('latin1'), name);
  }

  #add(finding: ContentFinding): void {
    if (!this.#findings.has(finding.rule)) this.#findings.set(finding.rule, finding);
  }
}

function withMember(finding: ContentFinding, member: string | undefined): ContentFinding {
  return member === undefined ? finding : { ...finding, member };
}

/** `../x`, `a/../../x`, `/etc/x`, `C:\x`, `\\server\x`: a name that extracts outside its folder. */
export function isUnsafePath(name: string): boolean {
  if (/^[/\\]/.test(name) || /^[a-zA-Z]:/.test(name)) return true;
  return name.split(/[/\\]/).includes('..');
}

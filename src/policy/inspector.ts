import { Gunzip, Inflate } from 'fflate';
import {
  type ContainerKind,
  containerOf,
  type DetectedType,
  detectType,
  EXECUTABLE_TYPES,
  type FileType,
  looksLikeText,
  OLE2_MAGIC,
  printable,
} from './file-type.ts';
import type { PolicySwitch } from './policy.ts';
import { type MemberDataReceiver, TarHeaderScanner, type TarMemberHeader } from './tar-headers.ts';
import { ZipHeaderScanner, type ZipMemberHeader } from './zip-headers.ts';

/** The outer file's first bytes kept to tell its type. */
const HEAD_BYTES = 64 * 1024;
/** A member's first bytes kept to tell its type (a zip member's head comes from its local header capture). */
const MEMBER_HEAD_BYTES = 16 * 1024;
/** Text carried from one chunk to the next so a construct split across chunks is still seen. */
const TEXT_SEAM = 512;
/** Containers inside containers opened at most this deep: clamd's MaxRecursion, so the policy goes as deep as the scan. */
const MAX_DEPTH = 17;
/**
 * Bytes taken out of nested containers (inflated or read from tar members) per scan, at most: clamd's
 * MaxScanSize rule (4× the input, at least 400 MiB), so the policy reads no less than the scan does.
 */
const NESTED_BYTES_FLOOR = 400 * 1024 * 1024;
/** Nested containers followed at once (each costs an inflate window and a header scanner). */
const MAX_OPEN_CONTAINERS = 16;
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
  /** The archive member it was found in, as a path through every level (`inner.zip/setup.exe`); absent for the file itself. */
  member?: string;
}

/**
 * Which inspection produced a stored (cached) inspection: 2 opens nested archives and detects types
 * with `file-type`. A cached inspection of another version is used only under the default policy.
 */
export const INSPECTION_VERSION = 2;

export interface ContentInspection {
  version?: number;
  detectedType: FileType;
  typeLabel: string;
  /** The usual extension and media type of the detected type (the `file_type`/`realfiletype` answers). */
  ext?: string;
  mime?: string;
  findings: ContentFinding[];
  /** Members of the outer archive, at every level the inspection opened; absent when the file is no archive. */
  archiveMembers?: number;
  /** The inspection itself failed (a bug, not the content's fault): a policy cannot rely on it. */
  failed?: true;
  /** Some members were not judged (nesting or size beyond the bounds): a policy cannot call the file clean. */
  incomplete?: string;
}

/** What every level of one inspection shares: the findings (first per rule), the bounds, pending type detections. */
class InspectionState {
  #order = 0;
  readonly #findings = new Map<string, { finding: ContentFinding; order: number }>();
  readonly #pending = new Set<Promise<void>>();
  members = 0;
  nestedBytes = 0;
  outerBytes = 0;
  openContainers = 0;
  incomplete: string | undefined;
  failed = false;

  /** A place in stream order, taken when a member is met: its findings keep it even when judged later. */
  next(): number {
    return this.#order++;
  }

  add(finding: ContentFinding, order: number): void {
    const key = `${finding.member === undefined ? 'file' : 'member'}:${finding.rule}`;
    const kept = this.#findings.get(key);
    if (!kept || kept.order > order) this.#findings.set(key, { finding, order });
  }

  has(rule: ContentFinding['rule'], scope: 'file' | 'member'): boolean {
    return this.#findings.has(`${scope}:${rule}`);
  }

  findings(): ContentFinding[] {
    return [...this.#findings.values()].sort((a, b) => a.order - b.order).map((kept) => kept.finding);
  }

  track(work: Promise<void>): void {
    const tracked = work.catch(() => {
      this.failed = true;
    });
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
  }

  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  giveUp(reason: string): void {
    this.incomplete ??= reason;
  }

  /** Counts bytes taken out of nested containers; false (and the inspection incomplete) past the bound. */
  spend(bytes: number): boolean {
    this.nestedBytes += bytes;
    if (this.nestedBytes <= Math.max(NESTED_BYTES_FLOOR, 4 * this.outerBytes)) return true;
    this.giveUp('nested archive content larger than the inspection reads');
    return false;
  }
}

/**
 * Watches the bytes of one scan as they stream to clamd (never a second read) and records what a
 * content policy may refuse: the true type (one detection, src/policy/file-type.ts, for every answer
 * and every rule), executables, scripts, macros, encryption, unsafe archive paths and links,
 * external XML entities. Archives are opened as they pass — zip members, tar members, gzip
 * content, and containers inside those down to clamd's recursion limit — so a PE in a zip in a zip
 * or a script in a tar.gz is judged by content, like a member of the outer zip. Memory is bounded
 * whatever the size: the 64 KiB head, a seam per search, and per open container a header and an
 * inflate window.
 */
export class ContentInspector {
  readonly #state = new InspectionState();
  #head: Buffer[] = [];
  #headLength = 0;
  #headDone = false;
  #search: 'text' | 'ole2' | undefined;
  #textSeam = '';
  #binarySeam = Buffer.alloc(0);
  #root: ArchiveLayer | undefined;

  /** Never throws: it runs inside the clamd stream loop, where a throw would fail the malware scan. */
  push(chunk: Buffer): void {
    if (this.#state.failed || chunk.length === 0) return;
    try {
      this.#push(chunk);
    } catch {
      this.#state.failed = true;
    }
  }

  #push(chunk: Buffer): void {
    this.#state.outerBytes += chunk.length;
    if (!this.#headDone) {
      const room = HEAD_BYTES - this.#headLength;
      this.#head.push(Buffer.from(chunk.subarray(0, room)));
      this.#headLength += Math.min(chunk.length, room);
      if (this.#root === undefined && this.#headLength >= 512) this.#openRoot(chunk.subarray(room));
      else this.#root?.push(chunk);
      if (this.#headLength < HEAD_BYTES) return;
      this.#headDone = true;
      this.#searchContent(this.#chooseSearch());
      if (chunk.length > room) this.#searchContent(chunk.subarray(room));
      return;
    }
    this.#root!.push(chunk);
    this.#searchContent(chunk);
  }

  /** The outer container is told from its first 512 bytes; what came so far is replayed into it. */
  #openRoot(after: Buffer): void {
    const head = Buffer.concat(this.#head);
    const kind = containerOf(head);
    // Zip headers are searched in whatever is not gzip or tar: a zip may start with a stub (self-extractors).
    this.#root = new ArchiveLayer(this.#state, '', 0, kind === 'gzip' || kind === 'tar' ? kind : 'zip');
    this.#root.push(head);
    if (after.length > 0) this.#root.push(after);
  }

  async finish(): Promise<ContentInspection> {
    try {
      return await this.#finish();
    } catch {
      this.#state.failed = true;
      return failedInspection();
    }
  }

  async #finish(): Promise<ContentInspection> {
    if (this.#state.failed) return failedInspection();
    const head = Buffer.concat(this.#head);
    if (!this.#headDone) {
      if (this.#root === undefined && head.length > 0) this.#openRoot(Buffer.alloc(0));
      this.#searchContent(this.#chooseSearch());
    }
    this.#root?.finish();
    await this.#state.settled();
    if (this.#state.failed) return failedInspection();
    const type = await detectType(head);
    const inspection: ContentInspection = {
      version: INSPECTION_VERSION,
      detectedType: type.type,
      typeLabel: type.label,
      findings: [],
    };
    if (type.ext !== undefined) inspection.ext = type.ext;
    if (type.mime !== undefined) inspection.mime = type.mime;
    // Members count only when the file is the archive they were found in: zip headers in a PDF or
    // a PE are bytes inside something else (compressed data, an embedded resource).
    const rootKind = this.#root?.kind;
    const isArchive =
      (rootKind === 'zip' && ZIP_TYPES.has(type.type)) ||
      (rootKind === 'gzip' && type.type === 'gzip') ||
      (rootKind === 'tar' && type.type === 'tar');
    if (isArchive) {
      inspection.archiveMembers = this.#state.members;
      if (this.#state.incomplete !== undefined) inspection.incomplete = this.#state.incomplete;
    }
    inspection.findings = this.#state.findings().filter((finding) => {
      if (finding.member !== undefined) return isArchive;
      // The streamed searches ran on what looked like text or OLE2; they count only if the type agrees.
      return finding.rule === 'macros' ? type.type === 'ole2' : TEXT_TYPES.has(type.type);
    });
    inspection.findings.unshift(...typeFindings(type));
    return inspection;
  }

  #chooseSearch(): Buffer {
    const head = Buffer.concat(this.#head, this.#headLength);
    this.#head = [head];
    if (looksLikeText(head)) this.#search = 'text';
    else if (head.subarray(0, OLE2_MAGIC.length).equals(OLE2_MAGIC)) this.#search = 'ole2';
    return head;
  }

  #searchContent(bytes: Buffer): void {
    if (this.#search === 'text') this.#searchText(bytes.toString('latin1'));
    else if (this.#search === 'ole2') this.#searchVba(bytes);
  }

  #searchText(text: string): void {
    const window = this.#textSeam + text;
    for (const finding of textFindings(window)) {
      if (!this.#state.has(finding.rule, 'file')) this.#state.add(finding, this.#state.next());
    }
    this.#textSeam = window.slice(-TEXT_SEAM);
  }

  #searchVba(bytes: Buffer): void {
    if (this.#state.has('macros', 'file')) return;
    const window = Buffer.concat([this.#binarySeam, bytes.subarray(0, VBA_STREAM.length)]);
    if (window.includes(VBA_STREAM) || bytes.includes(VBA_STREAM)) {
      this.#state.add({ rule: 'macros', detail: 'OLE2 document with a VBA project' }, this.#state.next());
      return;
    }
    this.#binarySeam = Buffer.from(
      Buffer.concat([this.#binarySeam, bytes.subarray(-VBA_STREAM.length)]).subarray(-VBA_STREAM.length),
    );
  }
}

function failedInspection(): ContentInspection {
  return { detectedType: 'binary', typeLabel: 'unknown', findings: [], failed: true };
}

/** What a type is by itself: an executable, a script, an HTML page. */
function typeFindings(type: DetectedType, member?: string): ContentFinding[] {
  const findings: ContentFinding[] = [];
  if (EXECUTABLE_TYPES.has(type.type))
    findings.push(withMember({ rule: 'executables', detail: type.label }, member));
  if (type.type === 'script') findings.push(withMember({ rule: 'scripts', detail: type.label }, member));
  if (type.type === 'html') findings.push(withMember({ rule: 'html', detail: 'HTML page' }, member));
  return findings;
}

function textFindings(text: string, member?: string): ContentFinding[] {
  const findings: ContentFinding[] = [];
  if (SCRIPT_ELEMENT.test(text))
    findings.push(withMember({ rule: 'scripts', detail: '<script> element' }, member));
  if (EXTERNAL_ENTITY.test(text))
    findings.push(
      withMember({ rule: 'xml_external_entities', detail: 'external entity declaration' }, member),
    );
  return findings;
}

function withMember(finding: ContentFinding, member: string | undefined): ContentFinding {
  return member === undefined ? finding : { ...finding, member };
}

/** Judges one member by its head: its type, and what the type and the head's text say. */
function judgeMemberHead(state: InspectionState, head: Buffer, path: string, order: number): void {
  state.track(
    detectType(head.subarray(0, MEMBER_HEAD_BYTES)).then((type) => {
      const findings = typeFindings(type, path);
      if (type.type === 'ole2' && head.includes(VBA_STREAM))
        findings.push({ rule: 'macros', detail: 'OLE2 document with a VBA project', member: path });
      if (TEXT_TYPES.has(type.type)) findings.push(...textFindings(head.toString('latin1'), path));
      for (const finding of findings) state.add(finding, order);
    }),
  );
}

/**
 * One container level: a zip (its local and central headers), a tar (its 512-byte headers) or a
 * gzip (one compressed stream, whose content is judged like a member). `prefix` is the member path
 * that leads here (`inner.zip/`), empty for the outer file.
 */
class ArchiveLayer {
  readonly kind: ContainerKind;
  readonly #state: InspectionState;
  readonly #prefix: string;
  readonly #depth: number;
  readonly #zip: ZipHeaderScanner | undefined;
  readonly #tar: TarHeaderScanner | undefined;
  readonly #gunzip: Gunzip | undefined;
  #gunzipContent: MemberStream | undefined;

  constructor(state: InspectionState, prefix: string, depth: number, kind: ContainerKind) {
    this.kind = kind;
    this.#state = state;
    this.#prefix = prefix;
    this.#depth = depth;
    if (kind === 'zip') {
      this.#zip = new ZipHeaderScanner({
        member: (header) => this.#zipMember(header),
        symlink: (name) =>
          state.add(
            { rule: 'unsafe_archives', detail: 'symbolic link member', member: prefix + printable(name) },
            state.next(),
          ),
      });
    } else if (kind === 'tar') {
      this.#tar = new TarHeaderScanner({
        member: (header) => this.#tarMember(header),
        invalid: () => state.giveUp(`a tar header at ${prefix || 'the top level'} does not parse`),
      });
    } else {
      const gunzip = new Gunzip();
      this.#gunzip = gunzip;
      gunzip.ondata = (data, final) => {
        if (!this.#gunzipContent) {
          // The gzip wrapper holds one stream, not named members: a tar in it lists its members at
          // this level; anything else is judged as the gzip's content.
          const name = this.#prefix === '' ? 'gzip content' : this.#prefix.slice(0, -1);
          this.#gunzipContent = new MemberStream(state, name, this.#prefix, depth, true);
        }
        if (data.length > 0 && this.#state.spend(data.length)) this.#gunzipContent.push(Buffer.from(data));
        if (final) this.#gunzipContent.end();
      };
    }
  }

  push(bytes: Buffer): void {
    if (this.#zip) this.#zip.push(bytes);
    else if (this.#tar) this.#tar.push(bytes);
    else if (this.#gunzip) this.#pushGzip(bytes, false);
  }

  finish(): void {
    if (this.#zip) this.#zip.finish();
    else if (this.#tar) this.#tar.finish();
    else if (this.#gunzip) {
      this.#pushGzip(new Uint8Array(0), true);
      this.#gunzipContent?.end();
    }
  }

  #pushGzip(bytes: Uint8Array, final: boolean): void {
    try {
      this.#gunzip!.push(bytes, final);
    } catch {
      this.#state.giveUp(`gzip content at ${this.#prefix || 'the top level'} does not inflate`);
    }
  }

  #zipMember(header: ZipMemberHeader): MemberDataReceiver | undefined {
    const state = this.#state;
    const order = state.next();
    state.members++;
    // The name is stored and shown as evidence: bounded, whatever the archive says.
    const path = this.#prefix + printable(header.name);
    if (isUnsafePath(header.name))
      state.add({ rule: 'unsafe_archives', detail: 'path outside the archive', member: path }, order);
    if (header.encrypted)
      state.add({ rule: 'encrypted', detail: 'password-protected member', member: path }, order);
    if (/(^|\/)vbaProject\.bin$/i.test(header.name))
      state.add({ rule: 'macros', detail: 'VBA project', member: path }, order);
    if (!header.head || header.head.length === 0) return undefined;
    judgeMemberHead(state, header.head, path, order);
    const container = containerOf(header.head);
    if (!container || header.encrypted) return undefined;
    // A stored zip's own headers are in this level's bytes: this level's signature search judges
    // its members already (named without the inner zip's name), and following it would count them twice.
    if (header.method === 0 && container === 'zip') return undefined;
    if (header.method === 0 && header.compressedSize === undefined) {
      state.giveUp(`${path}: a stored member of unknown length`);
      return undefined;
    }
    return this.#follow(path, header.method === 8 ? 'deflate' : 'stored');
  }

  #tarMember(header: TarMemberHeader): MemberDataReceiver | undefined {
    const state = this.#state;
    const order = state.next();
    state.members++;
    const path = this.#prefix + header.name;
    if (isUnsafePath(header.name))
      state.add({ rule: 'unsafe_archives', detail: 'path outside the archive', member: path }, order);
    if (header.kind === 'symlink')
      state.add({ rule: 'unsafe_archives', detail: 'symbolic link member', member: path }, order);
    if (header.kind === 'hardlink')
      state.add({ rule: 'unsafe_archives', detail: 'hard link member', member: path }, order);
    if (header.kind !== 'file' || header.size === 0) return undefined;
    const member = new MemberStream(state, path, `${path}/`, this.#depth, true, order);
    return (bytes, end) => {
      const wanted = member.push(bytes);
      if (end) member.end();
      return wanted;
    };
  }

  /** A zip member that is itself a container: its data goes through an inflater into the next level. */
  #follow(path: string, method: 'deflate' | 'stored'): MemberDataReceiver | undefined {
    const state = this.#state;
    if (this.#depth + 1 > MAX_DEPTH) {
      state.giveUp(`${path}: archives nested deeper than ${MAX_DEPTH} levels`);
      return undefined;
    }
    if (state.openContainers >= MAX_OPEN_CONTAINERS) {
      state.giveUp(`${path}: more than ${MAX_OPEN_CONTAINERS} nested archives open at once`);
      return undefined;
    }
    state.openContainers++;
    const member = new MemberStream(state, path, `${path}/`, this.#depth, false);
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      state.openContainers--;
      member.end();
    };
    if (method === 'stored') {
      return (bytes, end) => {
        const wanted = open && state.spend(bytes.length) && member.push(bytes);
        if (end || !wanted) close();
        return wanted;
      };
    }
    const inflate = new Inflate();
    inflate.ondata = (data, final) => {
      if (open && data.length > 0 && (!state.spend(data.length) || !member.push(Buffer.from(data)))) close();
      if (final) close();
    };
    return (bytes, end) => {
      if (!open) return false;
      try {
        inflate.push(bytes, end);
      } catch {
        state.giveUp(`${path}: the member does not inflate`);
        close();
      }
      if (end) close();
      return open;
    };
  }
}

/**
 * The uncompressed bytes of one member (or of a gzip's content): keeps its head to judge its type
 * (when `judge`; a zip member's head was judged from its local header already) and, when the head
 * says container, opens the next level and hands it everything.
 */
class MemberStream {
  readonly #state: InspectionState;
  readonly #path: string;
  readonly #childPrefix: string;
  readonly #depth: number;
  readonly #judge: boolean;
  readonly #order: number;
  #head: Buffer[] = [];
  #headLength = 0;
  #decided = false;
  #child: ArchiveLayer | undefined;
  #ended = false;

  constructor(
    state: InspectionState,
    path: string,
    childPrefix: string,
    depth: number,
    judge: boolean,
    order = state.next(),
  ) {
    this.#state = state;
    this.#path = path;
    this.#childPrefix = childPrefix;
    this.#depth = depth;
    this.#judge = judge;
    this.#order = order;
  }

  /** False once nothing more is wanted (the head was enough). */
  push(bytes: Buffer): boolean {
    if (this.#ended) return false;
    if (this.#decided) {
      if (!this.#child) return false;
      this.#child.push(bytes);
      return true;
    }
    const room = MEMBER_HEAD_BYTES - this.#headLength;
    this.#head.push(Buffer.from(bytes.subarray(0, room)));
    this.#headLength += Math.min(bytes.length, room);
    if (this.#headLength < MEMBER_HEAD_BYTES) return true;
    this.#decide();
    if (this.#child && bytes.length > room) this.#child.push(bytes.subarray(room));
    return this.#child !== undefined;
  }

  end(): void {
    if (this.#ended) return;
    if (!this.#decided) this.#decide();
    this.#ended = true;
    this.#child?.finish();
  }

  #decide(): void {
    this.#decided = true;
    const head = Buffer.concat(this.#head, this.#headLength);
    this.#head = [];
    if (head.length === 0) return;
    if (this.#judge) judgeMemberHead(this.#state, head, this.#path, this.#order);
    const kind = containerOf(head);
    if (!kind) return;
    if (this.#depth + 1 > MAX_DEPTH) {
      this.#state.giveUp(`${this.#path}: archives nested deeper than ${MAX_DEPTH} levels`);
      return;
    }
    // A gzip's content is the same member, not a level of names: its tar lists members where the gzip is.
    const prefix = this.#childPrefix;
    this.#child = new ArchiveLayer(this.#state, prefix, this.#depth + 1, kind);
    this.#child.push(head);
  }
}

/** `../x`, `a/../../x`, `/etc/x`, `C:\x`, `\\server\x`: a name that extracts outside its folder. */
export function isUnsafePath(name: string): boolean {
  if (/^[/\\]/.test(name) || /^[a-zA-Z]:/.test(name)) return true;
  return name.split(/[/\\]/).includes('..');
}

import type { Transform } from 'node:stream';
import { createGunzip, createInflateRaw } from 'node:zlib';
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
/** Compressed bytes queued for one inflater before the stream waits for it (ScanObserver backpressure). */
const INFLATE_QUEUE_BYTES = 1024 * 1024;
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
  /** Members of the outer archive (of the tar in an outer gzip); absent when the file is no archive. */
  archiveMembers?: number;
  /** The inspection itself failed (a bug, not the content's fault): a policy cannot rely on it. */
  failed?: true;
  /** Some members were not judged (nesting or size beyond the bounds): a policy cannot call the file clean. */
  incomplete?: string;
}

/**
 * A place in stream order: a member's index in its archive, after the places of the members that
 * lead to it. Nested members are inflated off the main thread and met later than the outer bytes
 * around them; their place, not the moment they were met, decides which finding is named first.
 */
type Place = readonly number[];
/** Findings about the file itself are never compared with members' findings. */
const FILE_PLACE: Place = [];

function before(a: Place, b: Place): boolean {
  for (let index = 0; index < Math.min(a.length, b.length); index++) {
    if (a[index] !== b[index]) return a[index]! < b[index]!;
  }
  return a.length < b.length;
}

/** What every level of one inspection shares: the findings (first per rule), the bounds, the work in flight. */
class InspectionState {
  readonly #findings = new Map<string, { finding: ContentFinding; place: Place }>();
  readonly #pending = new Set<Promise<void>>();
  /** Inflaters the stream should wait for before it reads on (ScanObserver backpressure). */
  readonly #behind = new Set<Promise<void>>();
  members = 0;
  nestedBytes = 0;
  outerBytes = 0;
  openContainers = 0;
  incomplete: string | undefined;
  failed = false;

  add(finding: ContentFinding, place: Place): void {
    const key = `${finding.member === undefined ? 'file' : 'member'}:${finding.rule}`;
    const kept = this.#findings.get(key);
    if (!kept || before(place, kept.place)) this.#findings.set(key, { finding, place });
  }

  has(rule: ContentFinding['rule'], scope: 'file' | 'member'): boolean {
    return this.#findings.has(`${scope}:${rule}`);
  }

  findings(): ContentFinding[] {
    return [...this.#findings.values()]
      .sort((a, b) => (before(a.place, b.place) ? -1 : before(b.place, a.place) ? 1 : 0))
      .map((kept) => kept.finding);
  }

  /** Work that must end before the inspection is finished (a type detection, an inflater). */
  track(work: Promise<void>): void {
    const tracked = work.catch(() => {
      this.failed = true;
    });
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
  }

  async settled(): Promise<void> {
    // Work in flight starts more work (an inflated member holds another archive): wait until none is left.
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /** The stream should not read on until this settles. */
  wait(drained: Promise<void>): void {
    this.#behind.add(drained);
    void drained.finally(() => this.#behind.delete(drained));
  }

  waiting(): Promise<void> | undefined {
    return this.#behind.size === 0 ? undefined : Promise.all([...this.#behind]).then(() => {});
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
 * Feeds compressed bytes to a native zlib inflater (it runs on libuv's thread pool, not the event
 * loop) and hands what comes out to `sink`. `sink` returns false when it wants no more. Tracked by
 * the state until the inflater has closed; asks the stream to wait when too much is queued.
 */
class Inflater {
  readonly #zlib: Transform;
  readonly #state: InspectionState;
  #open = true;
  #drained: Promise<void> | undefined;
  readonly #onEnd: () => void;

  constructor(
    state: InspectionState,
    kind: 'deflate' | 'gzip',
    sink: (bytes: Buffer) => boolean,
    onEnd: () => void,
  ) {
    this.#state = state;
    this.#onEnd = onEnd;
    const options = { chunkSize: 64 * 1024 };
    this.#zlib = kind === 'gzip' ? createGunzip(options) : createInflateRaw(options);
    this.#zlib.on('data', (bytes: Buffer) => {
      if (this.#open && !(state.spend(bytes.length) && sink(bytes))) this.close();
    });
    // A deflate stream ends itself (data behind it is ignored): that is the member's end. Data that
    // does not inflate ends it too: no unpacker gets anything past that point either (clamd, an
    // unzip tool), and a zip header the signature search met inside another member's stored
    // deflate blocks leads to exactly such data.
    this.#zlib.once('end', () => this.close());
    this.#zlib.once('error', () => this.close());
    state.track(new Promise<void>((resolve) => this.#zlib.once('close', () => resolve())));
  }

  get open(): boolean {
    return this.#open;
  }

  /** Takes a copy: the stream's chunk may be reused once the observer returns. */
  write(bytes: Buffer): boolean {
    if (!this.#open) return false;
    if (bytes.length === 0) return true;
    this.#zlib.write(Buffer.from(bytes));
    // write() asks to wait past 16 KiB queued; an inflater keeps up with clamd, so allow a bigger queue.
    if (this.#zlib.writableLength > INFLATE_QUEUE_BYTES && !this.#drained) {
      this.#drained = new Promise<void>((resolve) => {
        const done = () => {
          this.#zlib.off('drain', done);
          this.#zlib.off('close', done);
          this.#drained = undefined;
          resolve();
        };
        this.#zlib.on('drain', done);
        this.#zlib.on('close', done);
      });
      this.#state.wait(this.#drained);
    }
    return true;
  }

  end(): void {
    if (this.#open) this.#zlib.end();
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#onEnd();
    this.#zlib.destroy();
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

  /**
   * Never throws: it runs inside the clamd stream loop, where a throw would fail the malware scan.
   * A promise (never rejected) when inflaters fell behind: the stream reads on once it settles.
   */
  push(chunk: Buffer): Promise<void> | undefined {
    if (this.#state.failed || chunk.length === 0) return undefined;
    try {
      this.#push(chunk);
    } catch {
      this.#state.failed = true;
    }
    return this.#state.waiting();
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
    this.#root = new ArchiveLayer(
      this.#state,
      { prefix: '', place: [], depth: 0, counts: true },
      kind === 'gzip' || kind === 'tar' ? kind : 'zip',
    );
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
      if (!this.#state.has(finding.rule, 'file')) this.#state.add(finding, FILE_PLACE);
    }
    this.#textSeam = window.slice(-TEXT_SEAM);
  }

  #searchVba(bytes: Buffer): void {
    if (this.#state.has('macros', 'file')) return;
    const window = Buffer.concat([this.#binarySeam, bytes.subarray(0, VBA_STREAM.length)]);
    if (window.includes(VBA_STREAM) || bytes.includes(VBA_STREAM)) {
      this.#state.add({ rule: 'macros', detail: 'OLE2 document with a VBA project' }, FILE_PLACE);
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
function judgeMemberHead(state: InspectionState, head: Buffer, path: string, place: Place): void {
  state.track(
    detectType(head.subarray(0, MEMBER_HEAD_BYTES)).then((type) => {
      const findings = typeFindings(type, path);
      if (type.type === 'ole2' && head.includes(VBA_STREAM))
        findings.push({ rule: 'macros', detail: 'OLE2 document with a VBA project', member: path });
      if (TEXT_TYPES.has(type.type)) findings.push(...textFindings(head.toString('latin1'), path));
      for (const finding of findings) state.add(finding, place);
    }),
  );
}

/**
 * One container level: a zip (its local and central headers), a tar (its 512-byte headers) or a
 * gzip (one compressed stream, whose content is judged like a member). `prefix` is the member path
 * that leads here (`inner.zip/`), empty for the outer file; `place` is where it is in stream order.
 */
class ArchiveLayer {
  readonly kind: ContainerKind;
  readonly #state: InspectionState;
  readonly #prefix: string;
  readonly #place: Place;
  readonly #depth: number;
  /**
   * Whether this level's members are the file's own (`archiveMembers`, `max_archive_members`): the
   * outer archive, or a tar in the outer gzip. Deeper levels are judged but not counted: a zip
   * stored (or deflated into stored blocks) in another shows its headers to both levels.
   */
  readonly #counts: boolean;
  readonly #zip: ZipHeaderScanner | undefined;
  readonly #tar: TarHeaderScanner | undefined;
  readonly #gzip: Inflater | undefined;
  #members = 0;

  constructor(
    state: InspectionState,
    where: { prefix: string; place: Place; depth: number; counts: boolean },
    kind: ContainerKind,
  ) {
    this.kind = kind;
    this.#state = state;
    this.#prefix = where.prefix;
    this.#place = where.place;
    this.#depth = where.depth;
    this.#counts = where.counts;
    const prefix = where.prefix;
    if (kind === 'zip') {
      this.#zip = new ZipHeaderScanner({
        member: (header) => this.#zipMember(header),
        // Central headers come after every local one: their place is after the members'.
        symlink: (name) =>
          state.add(
            { rule: 'unsafe_archives', detail: 'symbolic link member', member: prefix + printable(name) },
            [...this.#place, Number.MAX_SAFE_INTEGER],
          ),
      });
    } else if (kind === 'tar') {
      this.#tar = new TarHeaderScanner({
        member: (header) => this.#tarMember(header),
        invalid: () => state.giveUp(`a tar header at ${prefix || 'the top level'} does not parse`),
      });
    } else {
      // The gzip wrapper holds one stream, not named members: a tar in it lists its members at
      // this level (and counts as the file's own); anything else is judged as the gzip's content.
      const content = new MemberStream(state, {
        path: prefix === '' ? 'gzip content' : prefix.slice(0, -1),
        childPrefix: prefix,
        place: [...this.#place, 0],
        depth: this.#depth,
        judge: true,
        counts: this.#counts,
      });
      this.#gzip = new Inflater(
        state,
        'gzip',
        (bytes) => content.push(bytes),
        () => content.end(),
      );
    }
  }

  push(bytes: Buffer): void {
    if (this.#zip) this.#zip.push(bytes);
    else if (this.#tar) this.#tar.push(bytes);
    else this.#gzip?.write(bytes);
  }

  finish(): void {
    if (this.#zip) this.#zip.finish();
    else if (this.#tar) this.#tar.finish();
    else this.#gzip?.end();
  }

  #nextPlace(): Place {
    return [...this.#place, this.#members++];
  }

  #zipMember(header: ZipMemberHeader): MemberDataReceiver | undefined {
    const state = this.#state;
    const place = this.#nextPlace();
    if (this.#counts) state.members++;
    // The name is stored and shown as evidence: bounded, whatever the archive says.
    const path = this.#prefix + printable(header.name);
    if (isUnsafePath(header.name))
      state.add({ rule: 'unsafe_archives', detail: 'path outside the archive', member: path }, place);
    if (header.encrypted)
      state.add({ rule: 'encrypted', detail: 'password-protected member', member: path }, place);
    if (/(^|\/)vbaProject\.bin$/i.test(header.name))
      state.add({ rule: 'macros', detail: 'VBA project', member: path }, place);
    if (!header.head || header.head.length === 0) return undefined;
    judgeMemberHead(state, header.head, path, place);
    const container = containerOf(header.head);
    if (!container || header.encrypted) return undefined;
    // A stored zip's own headers are in this level's bytes: this level's signature search judges
    // its members already (named without the inner zip's name), and following it would count them twice.
    if (header.method === 0 && container === 'zip') return undefined;
    if (header.method === 0 && header.compressedSize === undefined) {
      state.giveUp(`${path}: a stored member of unknown length`);
      return undefined;
    }
    return this.#follow(path, place, header.method === 8 ? 'deflate' : 'stored');
  }

  #tarMember(header: TarMemberHeader): MemberDataReceiver | undefined {
    const state = this.#state;
    const place = this.#nextPlace();
    if (this.#counts) state.members++;
    const path = this.#prefix + header.name;
    if (isUnsafePath(header.name))
      state.add({ rule: 'unsafe_archives', detail: 'path outside the archive', member: path }, place);
    if (header.kind === 'symlink')
      state.add({ rule: 'unsafe_archives', detail: 'symbolic link member', member: path }, place);
    if (header.kind === 'hardlink')
      state.add({ rule: 'unsafe_archives', detail: 'hard link member', member: path }, place);
    if (header.kind !== 'file' || header.size === 0) return undefined;
    const member = new MemberStream(state, {
      path,
      childPrefix: `${path}/`,
      place,
      depth: this.#depth,
      judge: true,
      counts: false,
    });
    return (bytes, end) => {
      const wanted = member.push(bytes);
      if (end) member.end();
      return wanted;
    };
  }

  /** A zip member that is itself a container: its data goes (inflated) into the next level. */
  #follow(path: string, place: Place, method: 'deflate' | 'stored'): MemberDataReceiver | undefined {
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
    // Its head was judged from the local header already.
    const member = new MemberStream(state, {
      path,
      childPrefix: `${path}/`,
      place,
      depth: this.#depth,
      judge: false,
      counts: false,
    });
    if (method === 'stored') {
      let open = true;
      return (bytes, end) => {
        if (!open) return false;
        const wanted = state.spend(bytes.length) && member.push(bytes);
        if (end || !wanted) {
          open = false;
          state.openContainers--;
          member.end();
        }
        return open;
      };
    }
    const inflater = new Inflater(
      state,
      'deflate',
      (bytes) => member.push(bytes),
      () => {
        state.openContainers--;
        member.end();
      },
    );
    return (bytes, end) => {
      if (!inflater.write(bytes)) return false;
      if (end) inflater.end();
      return inflater.open;
    };
  }
}

interface MemberPlace {
  /** The member's path, shown in evidence. */
  path: string;
  /** The prefix of the members of a container found in it (a gzip's content keeps the gzip's level). */
  childPrefix: string;
  place: Place;
  depth: number;
  /** Judge the head's type (a zip member's head was judged from its local header already). */
  judge: boolean;
  /** Whether a container found here lists the file's own members (a gzip's content at the top). */
  counts: boolean;
}

/**
 * The uncompressed bytes of one member (or of a gzip's content): keeps its head to judge its type
 * and, when the head says container, opens the next level and hands it everything.
 */
class MemberStream {
  readonly #state: InspectionState;
  readonly #where: MemberPlace;
  #head: Buffer[] = [];
  #headLength = 0;
  #decided = false;
  #child: ArchiveLayer | undefined;
  #ended = false;

  constructor(state: InspectionState, where: MemberPlace) {
    this.#state = state;
    this.#where = where;
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
    const where = this.#where;
    if (where.judge) judgeMemberHead(this.#state, head, where.path, where.place);
    const kind = containerOf(head);
    if (!kind) return;
    if (where.depth + 1 > MAX_DEPTH) {
      this.#state.giveUp(`${where.path}: archives nested deeper than ${MAX_DEPTH} levels`);
      return;
    }
    this.#child = new ArchiveLayer(
      this.#state,
      { prefix: where.childPrefix, place: where.place, depth: where.depth + 1, counts: where.counts },
      kind,
    );
    this.#child.push(head);
  }
}

/** `../x`, `a/../../x`, `/etc/x`, `C:\x`, `\\server\x`: a name that extracts outside its folder. */
export function isUnsafePath(name: string): boolean {
  if (/^[/\\]/.test(name) || /^[a-zA-Z]:/.test(name)) return true;
  return name.split(/[/\\]/).includes('..');
}

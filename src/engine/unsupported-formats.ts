/**
 * Formats clamd 1.4 (Debian build) answers `OK` for without reading their content, and the body
 * signatures that make clamd say so instead. Loaded next to the other signatures, they match at
 * every depth clamd unpacks (each extracted member is scanned from its own offset 0), so a blind
 * format hidden in a gzip inside a tar is found as surely as a bare one.
 *
 * The names start with `Heuristics.` on purpose: with HeuristicScanPrecedence off (clamd's
 * default) libclamav treats a `Heuristics.*` match as a weak finding, keeps scanning, and reports
 * it only when nothing else matched. So a real detection in the same file still wins (measured:
 * a zip holding a Zip64 zip and a deflated EICAR answers the EICAR signature), and the blind part
 * makes the file `unscannable` otherwise. Every name comes back with `.UNOFFICIAL` appended.
 */
export const UNSUPPORTED_FINDING_PREFIX = 'Heuristics.Scangate.Unsupported.';

interface UnsupportedFormat {
  /** The format as named in findings and verdict details. */
  name: string;
  /** `.ndb` offset and hex body: `*` anywhere, `0` only where a file (or extracted member) starts. */
  patterns: { offset: '0' | '*'; hex: string }[];
  why: string;
}

/**
 * Each entry was measured blind here (a probe wrapped in it came back `OK` from clamscan/clamd
 * 1.4.6) except where `why` says otherwise. Patterns matched anywhere (`*`) are long enough that
 * random bytes do not hit them (≥ 7 fixed bytes); short magic numbers are matched at offset 0 only.
 */
export const UNSUPPORTED_FORMATS: readonly UnsupportedFormat[] = [
  {
    name: 'Zip64',
    // Local header: signature(4) version(2) flags(2) method(2) time(2) date(2) crc(4), then the
    // compressed and uncompressed sizes; 0xFFFFFFFF in either means "see the Zip64 extra field".
    patterns: [
      { offset: '*', hex: '504b0304{14}ffffffff' },
      { offset: '*', hex: '504b0304{18}ffffffff' },
    ],
    why: 'clamd does not read Zip64 local headers (zip -fz, zip from a pipe, Python force_zip64): members skipped',
  },
  {
    name: 'ZipMethod',
    // Any method but stored (0), implode (6), deflate (8), deflate64 (9), bzip2 (12) and AES (99,
    // reported as Heuristics.Encrypted.Zip). The fixed 00 bytes (high bytes of version and method)
    // keep random data from matching.
    patterns: [{ offset: '*', hex: '504b0304??00????!(00|06|08|09|0c|63)00' }],
    why: 'zip members compressed with LZMA (14), xz (95), PPMd (98) and other methods are not decompressed',
  },
  {
    name: 'RAR',
    // RAR 1.5–4.x marker `Rar!\x1a\x07\x00`, RAR 5 marker `Rar!\x1a\x07\x01\x00`; anywhere, so
    // self-extracting archives are caught too.
    patterns: [{ offset: '*', hex: '526172211a07(00|0100)' }],
    why: "Debian's clamav has no unrar (non-free): RAR content is never unpacked",
  },
  {
    name: '7z',
    // clamd reads 7z data packed with LZMA, LZMA2, PPMd or copy, but answers `OK` unread for the
    // BZip2, Deflate and Deflate64 coders (`cli_7unz: unsupported`). The coder is named only in
    // the 7z header, which 7-Zip itself compresses by default, so no signature can tell the two
    // apart: every 7z is marked. A readable 7z holding malware still answers the malware (the
    // Heuristics name yields to it); a clean one is unscannable rather than clean by a coder trick.
    patterns: [{ offset: '0', hex: '377abcaf271c' }],
    why: '7z with the BZip2, Deflate or Deflate64 coder is not unpacked, and the coder is hidden in the compressed header',
  },
  {
    name: 'Zstandard',
    patterns: [{ offset: '0', hex: '28b52ffd' }],
    why: 'zstd frames are not decompressed',
  },
  {
    name: 'LZ4',
    patterns: [
      { offset: '0', hex: '04224d18' },
      { offset: '0', hex: '02214c18' },
    ],
    why: 'lz4 frames (and the legacy format) are not decompressed',
  },
  {
    name: 'Lzip',
    patterns: [{ offset: '0', hex: '4c5a495001' }],
    why: 'lzip files are not decompressed',
  },
  {
    name: 'LZO',
    patterns: [{ offset: '0', hex: '894c5a4f000d0a1a0a' }],
    why: 'lzop files are not decompressed',
  },
  {
    name: 'WIM',
    patterns: [{ offset: '0', hex: '4d5357494d000000' }],
    why: 'Windows imaging archives are not unpacked',
  },
  {
    name: 'Ar',
    patterns: [{ offset: '0', hex: '213c617263683e0a' }],
    why: 'ar archives (.a, .deb) are not unpacked',
  },
];

/** The `.ndb` lines, one per pattern: `Name:TargetType(0 = any):Offset:HexBody`. */
export function unsupportedFormatSignatures(): string {
  return UNSUPPORTED_FORMATS.flatMap((format) =>
    format.patterns.map(
      (pattern) => `${UNSUPPORTED_FINDING_PREFIX}${format.name}:0:${pattern.offset}:${pattern.hex}`,
    ),
  )
    .map((line) => `${line}\n`)
    .join('');
}

/** The format named by one of these findings (`.UNOFFICIAL` or not), else undefined. */
export function unsupportedFormatOf(finding: string): string | undefined {
  if (!finding.startsWith(UNSUPPORTED_FINDING_PREFIX)) return undefined;
  return finding.slice(UNSUPPORTED_FINDING_PREFIX.length).replace(/\.UNOFFICIAL$/, '');
}

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { constants, crc32, deflateRawSync, gzipSync, zstdCompressSync } from 'node:zlib';

/**
 * Wraps bytes in the container formats this machine can produce: the ones Node writes itself
 * (zip, Zip64 zip, gzip, zstd, tar, a RAR-marked file) and the ones an installed tool writes
 * (bzip2, xz, 7z, cab, arj, lz4, lzip, lzop). Used by the format self-test at start and by the tests.
 */
export interface ContainerFormat {
  name: string;
  /** The wrapped bytes; undefined when the tool that writes this format is not installed. */
  wrap(content: Buffer, memberName: string): Promise<Buffer | undefined>;
}

const run = promisify(execFile);

/** A zip with one deflated member; with `zip64`, local and central headers use Zip64 sizes. */
export function zipOf(content: Buffer, memberName: string, options: { zip64?: boolean } = {}): Buffer {
  const name = Buffer.from(memberName, 'utf8');
  const data = deflateRawSync(content, { level: constants.Z_BEST_COMPRESSION });
  const crc = crc32(content);
  const zip64 = options.zip64 === true;
  const extra = Buffer.alloc(zip64 ? 20 : 0);
  if (zip64) {
    extra.writeUInt16LE(0x0001, 0);
    extra.writeUInt16LE(16, 2);
    extra.writeBigUInt64LE(BigInt(content.length), 4);
    extra.writeBigUInt64LE(BigInt(data.length), 12);
  }
  const sizes = (header: Buffer, at: number) => {
    header.writeUInt32LE(zip64 ? 0xffffffff : data.length, at);
    header.writeUInt32LE(zip64 ? 0xffffffff : content.length, at + 4);
  };
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(zip64 ? 45 : 20, 4);
  local.writeUInt16LE(8, 8); // deflate
  local.writeUInt16LE(0x21, 12); // 1980-01-01
  local.writeUInt32LE(crc, 14);
  sizes(local, 18);
  local.writeUInt16LE(name.length, 26);
  local.writeUInt16LE(extra.length, 28);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(zip64 ? 45 : 20, 4);
  central.writeUInt16LE(zip64 ? 45 : 20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt16LE(0x21, 14);
  central.writeUInt32LE(crc, 16);
  sizes(central, 20);
  central.writeUInt16LE(name.length, 28);
  central.writeUInt16LE(extra.length, 30);
  const localPart = Buffer.concat([local, name, extra, data]);
  const centralPart = Buffer.concat([central, name, extra]);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(centralPart.length, 12);
  end.writeUInt32LE(localPart.length, 16);
  return Buffer.concat([localPart, centralPart, end]);
}

/** A ustar archive with one regular file. */
export function tarOf(content: Buffer, memberName: string): Buffer {
  return tarOfMembers([{ name: memberName, content }]);
}

/** A ustar archive with regular files, in order. */
export function tarOfMembers(members: { name: string; content: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { name, content } of members) {
    const header = Buffer.alloc(512);
    header.write(name.slice(0, 99), 0, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148); // the checksum is computed over spaces in its own field
    header.write('0', 156);
    header.write('ustar\u000000', 257);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    parts.push(header, content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/**
 * A file that starts with the RAR 5 marker. No RAR writer is free software, and Debian's clamd
 * cannot unpack RAR anyway: what this checks is that scangate's RAR signature is loaded.
 */
export function rarMarkedOf(content: Buffer): Buffer {
  return Buffer.concat([Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1'), content]);
}

/** Runs `command` on the content written to a temp file; answers the file it writes. */
async function withTool(
  content: Buffer,
  memberName: string,
  output: string,
  command: (input: string, output: string) => [string, string[]],
): Promise<Buffer | undefined> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'scangate-format-'));
  try {
    const input = path.join(dir, path.basename(memberName));
    await writeFile(input, content);
    const [file, args] = command(path.basename(input), output);
    await run(file, args, { cwd: dir, timeout: 30_000 });
    return await readFile(path.join(dir, output));
  } catch (error) {
    // The tool is not installed (spawned directly: ENOENT; through sh: exit status 127).
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 127) return undefined;
    throw error;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const CONTAINER_FORMATS: readonly ContainerFormat[] = [
  { name: 'zip', wrap: async (content, name) => zipOf(content, name) },
  { name: 'Zip64', wrap: async (content, name) => zipOf(content, name, { zip64: true }) },
  { name: 'gzip', wrap: async (content) => gzipSync(content) },
  { name: 'zstd', wrap: async (content) => zstdCompressSync(content) },
  { name: 'tar', wrap: async (content, name) => tarOf(content, name) },
  { name: 'RAR', wrap: async (content) => rarMarkedOf(content) },
  {
    name: 'bzip2',
    wrap: (content, name) =>
      withTool(content, name, 'out.bz2', (input) => ['sh', ['-c', 'bzip2 -c < "$1" > out.bz2', 'sh', input]]),
  },
  {
    name: 'xz',
    wrap: (content, name) =>
      withTool(content, name, 'out.xz', (input) => ['sh', ['-c', 'xz -c < "$1" > out.xz', 'sh', input]]),
  },
  {
    name: '7z',
    wrap: (content, name) =>
      withTool(content, name, 'out.7z', (input, out) => ['7z', ['a', '-bd', out, input]]),
  },
  {
    // 7-Zip's BZip2/Deflate coders inside a 7z: libclamav's 7z reader gives up on them ("cli_7unz:
    // unsupported") and answers OK. The coder sits in the (compressed) header, where no signature
    // can see it: this entry keeps the gap visible in the self-test report.
    name: '7z-bzip2',
    wrap: (content, name) =>
      withTool(content, name, 'out.7z', (input, out) => ['7z', ['a', '-bd', '-m0=BZip2', out, input]]),
  },
  {
    name: 'cab',
    wrap: (content, name) =>
      withTool(content, name, 'out.cab', (input, out) => ['gcab', ['-c', '-z', out, input]]),
  },
  {
    name: 'arj',
    wrap: (content, name) => withTool(content, name, 'out.arj', (input, out) => ['arj', ['a', out, input]]),
  },
  {
    name: 'lz4',
    wrap: (content, name) => withTool(content, name, 'out.lz4', (input, out) => ['lz4', ['-q', input, out]]),
  },
  {
    name: 'lzip',
    wrap: (content, name) =>
      withTool(content, name, 'out.lz', (input) => ['sh', ['-c', 'lzip -c < "$1" > out.lz', 'sh', input]]),
  },
  {
    name: 'lzop',
    wrap: (content, name) =>
      withTool(content, name, 'out.lzo', (input, out) => ['lzop', ['-q', '-o', out, input]]),
  },
];

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { tarOf } from '../../src/engine/container-samples.ts';

/**
 * The wrappers of the hostile-input corpus, each made by the tool an attacker would use on this
 * machine (Info-ZIP, 7-Zip, gcab, bzip2, xz; Node for gzip, zstd and tar). Built at test time;
 * nothing binary is stored in the repository.
 */
export interface Wrapper {
  name: string;
  wrap(content: Buffer, memberName: string): Promise<Buffer>;
}

const run = promisify(execFile);

/** Writes the content as `memberName` in a temp dir, runs the tool there, reads `output`. */
async function withTool(
  content: Buffer,
  memberName: string,
  output: string,
  command: (member: string) => [string, string[]],
): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'scangate-corpus-'));
  try {
    await writeFile(path.join(dir, memberName), content);
    const [file, args] = command(memberName);
    await run(file, args, { cwd: dir, timeout: 30_000 });
    return await readFile(path.join(dir, output));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const shell =
  (script: string) =>
  (member: string): [string, string[]] => ['sh', ['-c', script, 'sh', member]];

const ALL_WRAPPERS: (Wrapper & { tool?: string })[] = [
  {
    name: 'zip',
    tool: 'zip',
    wrap: (content, member) =>
      withTool(content, member, 'out.zip', (m) => ['zip', ['-q', '-X', 'out.zip', m]]),
  },
  {
    // Info-ZIP's forced Zip64: local headers with 0xFFFFFFFF sizes, which clamd does not read.
    name: 'zip64',
    tool: 'zip',
    wrap: (content, member) =>
      withTool(content, member, 'out.zip', (m) => ['zip', ['-q', '-X', '-fz', 'out.zip', m]]),
  },
  { name: 'gzip', wrap: async (content) => gzipSync(content) },
  {
    name: 'bzip2',
    tool: 'bzip2',
    wrap: (content, member) => withTool(content, member, 'out.bz2', shell('bzip2 -c < "$1" > out.bz2')),
  },
  {
    name: 'xz',
    tool: 'xz',
    wrap: (content, member) => withTool(content, member, 'out.xz', shell('xz -c < "$1" > out.xz')),
  },
  { name: 'zstd', wrap: async (content) => zstdCompressSync(content) },
  { name: 'tar', wrap: async (content, member) => tarOf(content, member) },
  {
    name: '7z',
    tool: '7z',
    wrap: (content, member) => withTool(content, member, 'out.7z', (m) => ['7z', ['a', '-bd', 'out.7z', m]]),
  },
  {
    name: 'cab',
    tool: 'gcab',
    wrap: (content, member) =>
      withTool(content, member, 'out.cab', (m) => ['gcab', ['-c', '-z', 'out.cab', m]]),
  },
];

async function installed(tool: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v "$1"`, 'sh', tool]);
    return true;
  } catch {
    return false;
  }
}

/** The wrappers whose tool is installed here, and the names of those that are not. */
export async function availableWrappers(): Promise<{ wrappers: Wrapper[]; missing: string[] }> {
  const wrappers: Wrapper[] = [];
  const missing: string[] = [];
  for (const wrapper of ALL_WRAPPERS) {
    if (wrapper.tool && !(await installed(wrapper.tool))) missing.push(wrapper.name);
    else wrappers.push(wrapper);
  }
  return { wrappers, missing };
}

/** The file name a layer's output gets when it is the member of the next layer. */
export function memberNameFor(wrapperName: string): string {
  const extension: Record<string, string> = {
    zip: 'zip',
    zip64: 'zip',
    gzip: 'gz',
    bzip2: 'bz2',
    xz: 'xz',
    zstd: 'zst',
    tar: 'tar',
    '7z': '7z',
    cab: 'cab',
  };
  return `layer.${extension[wrapperName] ?? 'bin'}`;
}

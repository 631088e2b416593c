import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * Hostile archives, built at test time with Info-ZIP's `zip` in a temp dir: no binary test file is
 * ever committed, and each one is exactly as large as the test needs.
 */
const run = promisify(execFile);

async function zip(cwd: string, args: string[]): Promise<void> {
  // -X: no extra attributes, -q: quiet. Names are relative to cwd.
  await run('zip', ['-q', '-X', ...args], { cwd });
}

/**
 * One deflated member of `inflatedBytes` zeros (optionally followed by `tail`): ~1000:1, so a
 * 450 MB member is a ~440 KB zip. The member is streamed from stdin, never written to disk.
 * Info-ZIP writes Zip64 local headers for stdin input unless told not to (`-fz-`); `zip64: true`
 * keeps them, which clamd 1.4.6 cannot read (see the known-gap test).
 */
export async function zipBomb(
  dir: string,
  name: string,
  inflatedBytes: number,
  options: { tail?: Buffer; zip64?: boolean } = {},
): Promise<string> {
  const output = path.join(dir, name);
  const tailFile = path.join(dir, `${name}.tail`);
  await writeFile(tailFile, options.tail ?? Buffer.alloc(0));
  const zip64 = options.zip64 ? '' : '-fz-';
  await run(
    'sh',
    [
      '-c',
      `{ head -c "$1" /dev/zero; cat "$2"; } | zip -q -X -9 ${zip64} "$3" -`,
      'sh',
      String(inflatedBytes),
      tailFile,
      output,
    ],
    { cwd: dir },
  );
  return output;
}

/**
 * 42.zip in miniature: `copies` stored zips, each holding one member of `memberBytes` zeros plus
 * its copy number. Each level looks harmless; together they inflate to copies × memberBytes.
 * The copies differ by that last byte on purpose: identical copies are answered from clamd's
 * clean-file cache after the first one, which is an honest full scan, not a bomb.
 */
export async function nestedZipBomb(
  dir: string,
  name: string,
  memberBytes: number,
  copies: number,
): Promise<string> {
  const names: string[] = [];
  for (let copy = 0; copy < copies; copy++) {
    const copyName = `${name}.copy${copy}.zip`;
    await run(
      'sh',
      [
        '-c',
        '{ head -c "$1" /dev/zero; echo "$2"; } | zip -q -X -9 -fz- "$3" -',
        'sh',
        String(memberBytes),
        String(copy),
        copyName,
      ],
      { cwd: dir },
    );
    names.push(copyName);
  }
  await zip(dir, ['-0', name, ...names]);
  return path.join(dir, name);
}

/** A zip whose one member is encrypted with ZipCrypto (`zip -P`). */
export async function passwordZip(dir: string, name: string, content: Buffer): Promise<string> {
  const member = `${name}.member`;
  await writeFile(path.join(dir, member), content);
  await zip(dir, ['-P', 'hostile-secret', name, member]);
  return path.join(dir, name);
}

/** `content` wrapped in `depth` levels of zip, each the only member of the next. */
export async function nestedZip(dir: string, name: string, content: Buffer, depth: number): Promise<string> {
  let current = `${name}.level0`;
  await writeFile(path.join(dir, current), content);
  for (let level = 1; level <= depth; level++) {
    const next = `${name}.level${level}.zip`;
    await zip(dir, ['-9', next, current]);
    current = next;
  }
  return path.join(dir, current);
}

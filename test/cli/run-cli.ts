import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

const CLI = path.resolve(import.meta.dirname, '../../bin/scangate.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `scangate …` as users do (the package's bin), with only the environment given: nothing of
 * this process's configuration leaks into the command.
 */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  stdin?: Buffer,
): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(stdin);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

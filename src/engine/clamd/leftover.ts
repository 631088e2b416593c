import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../logger.ts';

async function procText(pid: number, file: string): Promise<string | undefined> {
  return readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => undefined);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A scangate killed with SIGKILL leaves its clamd running, holding the socket: the next start would
 * fail with "socket in use". Stops that clamd (found by its pid file and its config path) unless the
 * process that started it is still alive, in which case another scangate owns this data directory.
 */
export async function stopLeftoverClamd(pidFile: string, confPath: string, logger: Logger): Promise<void> {
  const pid = Number.parseInt((await readFile(pidFile, 'utf8').catch(() => '')).trim(), 10);
  if (!(pid > 0) || !alive(pid)) return;
  const cmdline = (await procText(pid, 'cmdline'))?.split('\0') ?? [];
  if (!cmdline.some((arg) => arg === confPath)) return; // the pid was reused by something else
  // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
  const stat = (await procText(pid, 'stat')) ?? '';
  const ppid = Number.parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '', 10);
  const parentCmdline = ppid > 1 ? ((await procText(ppid, 'cmdline')) ?? '') : '';
  if (ppid !== process.pid && /node/.test(parentCmdline)) {
    throw new Error(`clamd ${pid} for ${confPath} is managed by another running process (${ppid})`);
  }
  logger.warn({ pid }, 'stopping a managed clamd left over from a previous run');
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; alive(pid) && waited < 10_000; waited += 100) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (let waited = 0; alive(pid) && waited < 5_000; waited += 50) await sleep(50);
  await rm(pidFile, { force: true });
}

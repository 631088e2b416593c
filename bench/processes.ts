import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const CLK_TCK = 100;

/** utime + stime of a process in seconds (Linux /proc). */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

function statusFields(pid: number): (name: string) => number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
}

/** VmRSS and VmHWM in bytes. */
export function memory(pid: number): { rss: number; hwm: number } {
  const kib = statusFields(pid);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** VmRSS split into anonymous memory (heap, malloc, code) and file-backed pages (the binary, libraries). */
export function rssBreakdown(pid: number): { rss: number; rssAnon: number; rssFile: number } {
  const kib = statusFields(pid);
  return { rss: kib('VmRSS'), rssAnon: kib('RssAnon'), rssFile: kib('RssFile') + kib('RssShmem') };
}

/** Resets VmHWM to the current RSS (Linux clear_refs "5"), so a phase can measure its own peak. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples VmRSS every `intervalMs` until stopped; answers the largest sample and VmHWM at the end. */
export function sampleRss(pid: number, intervalMs = 50): () => { peakSampledRss: number; hwm: number } {
  let peak = 0;
  const sample = () => {
    try {
      peak = Math.max(peak, memory(pid).rss);
    } catch {
      // the process is gone; the caller will notice
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return () => {
    clearInterval(timer);
    sample();
    return { peakSampledRss: peak, hwm: memory(pid).hwm };
  };
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

export interface ScangateProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
  /** SIGKILL at once, for the process 'exit' handler, which cannot wait. */
  killNow(): void;
}

/**
 * Polls /readyz until it answers 200 (API up, clamd reachable, EICAR canary detected). `failure`
 * names a reason to give up early (the process exited).
 */
export async function waitUntilReady(
  url: string,
  failure: () => string | undefined = () => undefined,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem = failure();
    if (problem) throw new Error(problem);
    const ready = await fetch(`${url}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline)
      throw new Error(`scangate at ${url} did not become ready within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

const REPO = path.resolve(import.meta.dirname, '..');

/** dist: the compiled build (`npm run build`), as production runs it; src: the TypeScript sources. */
export type ServiceEntry = 'dist' | 'src';
const ENTRY_POINTS: Record<ServiceEntry, string> = {
  dist: 'dist/src/cli/main.js',
  src: 'src/cli/main.ts',
};
/** The node flags `npm start` and the image start the build with (see the Dockerfile's ENTRYPOINT). */
export const PRODUCTION_NODE_FLAGS = ['--max-semi-space-size=2'];

/** Compiles dist/ unless it is up to date with the sources (the bench measures what production runs). */
export function buildService(): void {
  const built = spawnSync(process.execPath, [path.join(REPO, 'scripts/build.ts'), '--if-stale'], {
    cwd: REPO,
    stdio: 'inherit',
  });
  if (built.status !== 0) throw new Error(`npm run build failed (exit ${built.status})`);
}

/**
 * `node dist/src/cli/main.js serve` (the build; or the sources) as a child, as an operator runs it:
 * config from the environment only. Ready once /readyz answers 200 (API up, clamd reachable, EICAR
 * canary detected).
 */
export async function startScangate(options: {
  dataDir: string;
  env: Record<string, string>;
  cpuProfileDir?: string | undefined;
  entry?: ServiceEntry;
  /** Node flags; by default the production ones for the build and none for the sources. */
  nodeFlags?: string[];
}): Promise<ScangateProcess> {
  await mkdir(options.dataDir, { recursive: true });
  const port = await freePort();
  const entry = options.entry ?? 'dist';
  const args = [
    ...(options.nodeFlags ?? (entry === 'dist' ? PRODUCTION_NODE_FLAGS : [])),
    path.join(REPO, ENTRY_POINTS[entry]),
    'serve',
  ];
  if (options.cpuProfileDir) {
    await mkdir(options.cpuProfileDir, { recursive: true });
    args.unshift('--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`);
  }
  const child = spawn(process.execPath, args, {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      SCANGATE_DATA_DIR: options.dataDir,
      ...options.env,
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
    process.stderr.write(chunk);
  });
  const exited = once(child, 'exit');
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(url, () =>
      gone ? `scangate exited before it was ready: ${stderr.slice(-2000)}` : undefined,
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url,
    pid: child.pid!,
    child,
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const timeout = sleep(20_000).then(() => 'timeout');
      if ((await Promise.race([exited.then(() => 'exited'), timeout])) === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    },
    killNow() {
      if (!gone) child.kill('SIGKILL');
    },
  };
}

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { type RunningService, startService } from '../../src/cli/service.ts';
import { type Config, loadConfig } from '../../src/config.ts';

// The AWS SDK's default credential chain ends at the EC2 metadata address: no test may ever dial it.
process.env.AWS_EC2_METADATA_DISABLED = 'true';

export const TENANT_A_KEY = 'tenant-a=key-a-0123456789abcdef';
export const TENANT_B_KEY = 'tenant-b=key-b-0123456789abcdef';
export const KEY_A = 'key-a-0123456789abcdef';
export const KEY_B = 'key-b-0123456789abcdef';

export interface TestService {
  url: string;
  config: Config;
  service: RunningService;
  dataDir: string;
  stop(): Promise<void>;
}

export type ConfigOverrides = {
  [K in keyof Config]?: Config[K] extends object ? Partial<Config[K]> : Config[K];
};

export function testConfig(dataDir: string, overrides: ConfigOverrides = {}): Config {
  return loadConfig(
    {},
    {
      dataDir,
      logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...overrides,
      // The offline test database, asked for explicitly as an operator trying scangate out would.
      signatures: { mode: 'test', ...overrides.signatures },
      http: { port: 0, ...overrides.http },
      auth: { apiKeys: [TENANT_A_KEY, TENANT_B_KEY], ...overrides.auth },
      jobs: {
        pollIntervalMs: 20,
        retryBaseDelayMs: 100,
        retryMaxDelayMs: 1000,
        sweepIntervalMs: 500,
        ...overrides.jobs,
      },
    },
  );
}

/** Starts the whole service in this process, on a random loopback port, with its own managed clamd. */
export async function startTestService(
  overrides: ConfigOverrides = {},
  dataDir?: string,
): Promise<TestService> {
  const ownDir = dataDir ?? (await mkdtemp(path.join(tmpdir(), 'scangate-test-')));
  const config = testConfig(ownDir, overrides);
  const service = await startService(config);
  return {
    url: service.url!,
    config,
    service,
    dataDir: ownDir,
    async stop() {
      await service.stop();
      if (!dataDir) await rm(ownDir, { recursive: true, force: true });
    },
  };
}

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  exited: Promise<unknown>;
}

const CLI = path.resolve(import.meta.dirname, '../../src/cli/main.ts');

/**
 * Starts `scangate serve` as a child process (for kill -9 and cluster tests); resolves once it has
 * started (and listens, for roles with an API). `onLogLine` sees every JSON log line it prints.
 */
export async function spawnService(
  env: Record<string, string>,
  onLogLine?: (line: Record<string, unknown>) => void,
  onRawLine?: (text: string) => void,
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      SIGNATURES: 'test',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a test can SIGKILL the service together with its managed clamd.
    detached: true,
  });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    let recent = '';
    lines.on('line', (text) => {
      recent = `${recent.slice(-2000)}\n${text}`;
      onRawLine?.(text);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return;
      }
      onLogLine?.(parsed);
      if (parsed.msg === 'scangate started') resolve(typeof parsed.url === 'string' ? parsed.url : '');
    });
    exited.then(() => reject(new Error(`scangate exited before it started: ${stderr}\n${recent}`)));
  });
  return { child, url, exited };
}

/**
 * Stops spawned services whatever state a failed test left them in: a frozen (SIGSTOPped) one gets
 * SIGCONT first, or its SIGTERM would wait forever; one that does not exit within `graceMs` (a
 * shutdown waiting on a lock a frozen peer held) is SIGKILLed with its process group. An after hook
 * that hangs keeps the whole test run from ending.
 */
export async function stopServices(nodes: readonly ServiceProcess[], graceMs = 10_000): Promise<void> {
  const running = nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);
  for (const node of running) signalGroup(node, 'SIGCONT');
  for (const node of running) signalGroup(node, 'SIGTERM');
  await Promise.all(
    running.map(async (node) => {
      const timer = setTimeout(() => signalGroup(node, 'SIGKILL'), graceMs);
      await node.exited;
      clearTimeout(timer);
    }),
  );
}

function signalGroup(node: ServiceProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-node.child.pid!, signal);
  } catch {
    // The group is gone already.
  }
}

export function authHeaders(key: string, style: 'bearer' | 'x-api-key' = 'bearer'): Record<string, string> {
  return style === 'bearer' ? { authorization: `Bearer ${key}` } : { 'x-api-key': key };
}

/** Polls until `check` returns a value; polling is how clients of the API learn results too. */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `POST /v1/scans/file` with `bytes` as the file field and any extra form fields. */
export function submitNativeUpload(
  url: string,
  bytes: Buffer,
  options: { key?: string; filename?: string; fields?: Record<string, string> } = {},
): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(options.fields ?? {})) form.set(name, value);
  form.set('file', new Blob([bytes]), options.filename ?? 'file.bin');
  return fetch(`${url}/v1/scans/file`, {
    method: 'POST',
    headers: authHeaders(options.key ?? KEY_A),
    body: form,
  });
}

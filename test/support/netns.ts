import { spawn } from 'node:child_process';

/**
 * Tests that aim at non-loopback addresses (10.0.0.1, 169.254.169.254, …) must not be able to send
 * a packet anywhere, even if the code under test were wrong. They run in a fresh network namespace
 * whose only interface is loopback: the test file re-runs itself under `unshare -n`.
 */
const FLAG = 'SCANGATE_IN_LOOPBACK_NETNS';

export function inLoopbackNamespace(): boolean {
  return process.env[FLAG] === '1';
}

export interface NamespaceRun {
  code: number | null;
  output: string;
}

/** Runs `node --test <file>` inside a loopback-only network namespace and reports how it ended. */
export function runInLoopbackNamespace(testFile: string): Promise<NamespaceRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, [FLAG]: '1' };
  // The child is a test run of its own, not a subtest stream of the parent runner.
  delete env.NODE_TEST_CONTEXT;
  const script = 'ip link set lo up && exec "$0" --test --test-reporter=spec "$1"';
  // Without root, a user namespace (-r) grants the CAP_NET_ADMIN that `ip` needs inside.
  const flags = process.getuid?.() === 0 ? ['-n'] : ['-r', '-n'];
  const child = spawn('unshare', [...flags, 'sh', '-c', script, process.execPath, testFile], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

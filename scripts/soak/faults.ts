import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { CallbackReceiver } from './local-servers.ts';
import type { ServiceProcess } from './service-process.ts';

const run = promisify(execFile);

export type FaultKind = 'clamd_kill' | 'service_kill' | 'receiver_outage' | 'postgres_restart';

export interface FaultTargets {
  service: ServiceProcess;
  receiver: CallbackReceiver;
  /** How long the receiver answers 500 once an outage starts. */
  outageMs: number;
  log: (message: string) => void;
}

/** The PostgreSQL cluster version on this machine (the directory under /etc/postgresql). */
export function postgresVersion(): string {
  const versions = readdirSync('/etc/postgresql').filter((name) => /^\d+$/.test(name));
  if (versions.length === 0) throw new Error('no PostgreSQL cluster under /etc/postgresql');
  return versions.sort((a, b) => Number(b) - Number(a))[0]!;
}

/**
 * Injects one fault and returns once it is over (the service restarted, the receiver back). The
 * traffic keeps flowing meanwhile: what the fault breaks, the service must recover.
 */
export async function injectFault(kind: FaultKind, targets: FaultTargets): Promise<void> {
  const { service, receiver, log } = targets;
  switch (kind) {
    case 'clamd_kill': {
      const pid = service.clamdPid();
      if (pid === undefined) throw new Error('no managed clamd pid to kill');
      log(`fault: SIGKILL clamd (pid ${pid}); the managed clamd restarts it`);
      process.kill(pid, 'SIGKILL');
      return;
    }
    case 'service_kill': {
      log(`fault: SIGKILL the service and its clamd (process group ${service.pid}), then restart it`);
      await service.kill();
      await service.start();
      log('service restarted');
      return;
    }
    case 'receiver_outage': {
      log(`fault: the callback receiver answers 500 for ${targets.outageMs} ms`);
      receiver.outage = true;
      await sleep(targets.outageMs);
      receiver.outage = false;
      return;
    }
    case 'postgres_restart': {
      const version = postgresVersion();
      log(`fault: restart PostgreSQL ${version}/main`);
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart']);
      log('PostgreSQL is back');
      return;
    }
  }
}

/** The kinds in turn, so a short run still injects each one: clamd, service, receiver (, postgres). */
export function faultRotation(postgres: boolean): FaultKind[] {
  const kinds: FaultKind[] = ['clamd_kill', 'service_kill', 'receiver_outage'];
  if (postgres) kinds.push('postgres_restart');
  return kinds;
}

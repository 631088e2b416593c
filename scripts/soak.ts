#!/usr/bin/env node
/**
 * Soak test: a steady mix of uploads, URL scans and callbacks at a set rate while faults are
 * injected (clamd killed, the service SIGKILLed and restarted, the callback receiver down, and
 * with --postgres PostgreSQL restarted). Then it drains the queue and checks that nothing was lost.
 *
 *   npm run soak -- --minutes 5 --rate 5 [--postgres] [--fault-every 20] [--output docs/soak-latest.json]
 *
 * Prints a summary JSON, writes it to --output, and exits 1 if any invariant failed.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { generateWebhookSecret } from '../src/webhook-signing.ts';
import { drain } from './soak/drain.ts';
import { type FaultKind, faultRotation, injectFault } from './soak/faults.ts';
import { checkInvariants } from './soak/invariants.ts';
import { CallbackReceiver, startFileServer } from './soak/local-servers.ts';
import { ServiceProcess } from './soak/service-process.ts';
import { Traffic } from './soak/traffic.ts';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    seconds: { type: 'string' },
    rate: { type: 'string', default: '5' },
    postgres: { type: 'boolean', default: false },
    'fault-every': { type: 'string', default: '20' },
    'outage-seconds': { type: 'string', default: '8' },
    'drain-timeout': { type: 'string', default: '180' },
    output: { type: 'string', default: path.resolve(import.meta.dirname, '../docs/soak-latest.json') },
    keep: { type: 'boolean', default: false },
  },
});
const durationMs = (args.seconds ? Number(args.seconds) : Number(args.minutes) * 60) * 1000;
const rate = Number(args.rate);
const faultEveryMs = Number(args['fault-every']) * 1000;
const log = (message: string) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}`);

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** A database of its own, so the soak neither sees nor disturbs anyone else's jobs. */
async function createSoakDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `scangate_soak_${process.pid}_${Date.now()}`;
  const admin = 'postgres://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client(admin);
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  return {
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    async drop() {
      const dropper = new pg.Client(admin);
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await dropper.end();
    },
  };
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'scangate-soak-'));
  const apiKey = `soak-${randomBytes(16).toString('hex')}`;
  const secret = generateWebhookSecret();
  const database = args.postgres ? await createSoakDatabase() : undefined;
  const files = await startFileServer();
  const receiver = new CallbackReceiver(secret);
  await receiver.start();
  const env: Record<string, string> = {
    SCANGATE_DATA_DIR: dataDir,
    SIGNATURES: 'test',
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    LOG_LEVEL: 'info',
    API_KEYS: `soak=${apiKey}`,
    NETWORK_ALLOW_CIDRS: '127.0.0.0/8',
    CALLBACK_SIGNING_SECRET: secret,
    // Short leases and backoffs: recovery after a kill takes seconds, as an operator would tune it.
    JOB_LEASE_MS: '5000',
    JOB_RETRY_BASE_MS: '200',
    JOB_RETRY_MAX_MS: '3000',
    CALLBACK_RETRY_BASE_MS: '250',
    CALLBACK_RETRY_MAX_MS: '2000',
    CALLBACK_TIMEOUT_MS: '3000',
    DOWNLOAD_CONNECT_TIMEOUT_MS: '1000',
    CLAMD_HEALTH_INTERVAL_MS: '500',
    CLAMD_MAX_THREADS: '2',
    SHUTDOWN_GRACE_MS: '5000',
    ...(database ? { DATABASE_URL: database.url } : {}),
  };
  const service = new ServiceProcess(env, Number(env.PORT));
  // Never leave the service (and its clamd) running behind us, whatever happens.
  process.once('exit', () => service.killNow());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  await service.start();
  log(
    `service at ${service.url}, data in ${dataDir}, ${database ? 'PostgreSQL' : 'SQLite'}; ${rate}/s for ${durationMs / 1000} s`,
  );

  const traffic = new Traffic({
    serviceUrl: service.url,
    apiKey,
    fileOrigin: files.origin,
    receiverOrigin: receiver.origin,
    runId: `soak${Date.now().toString(36)}`,
  });
  const faults: Record<FaultKind, number> = {
    clamd_kill: 0,
    service_kill: 0,
    receiver_outage: 0,
    postgres_restart: 0,
  };
  const rotation = faultRotation(Boolean(database));
  const loadStart = performance.now();
  const elapsed = () => performance.now() - loadStart;

  const injector = (async () => {
    for (let index = 0; (index + 1) * faultEveryMs < durationMs; index++) {
      await sleep(Math.max(0, (index + 1) * faultEveryMs - elapsed()));
      const kind = rotation[index % rotation.length]!;
      await injectFault(kind, { service, receiver, outageMs: Number(args['outage-seconds']) * 1000, log });
      faults[kind]++;
    }
  })();
  for (let sent = 0; elapsed() < durationMs; sent++) {
    // At most 50 submissions in flight: a stalled service must not make the driver pile up sockets.
    if (traffic.inFlight < 50) traffic.submitOne();
    const due = ((sent + 1) * 1000) / rate;
    if (due > elapsed()) await sleep(due - elapsed());
  }
  await injector;
  await traffic.settle();
  log(`load done: ${traffic.submitted.length} jobs acknowledged; draining`);

  const drainStart = performance.now();
  const finalStates = await drain(traffic, receiver, Number(args['drain-timeout']) * 1000, log);
  const drainSeconds = (performance.now() - drainStart) / 1000;
  await service.close();
  const uploads = path.join(dataDir, 'uploads');
  const stagedFilesLeft = await readdir(uploads).catch(() => []);
  const report = checkInvariants({
    submitted: traffic.submitted,
    finalStates,
    callbacks: receiver.received,
    verdictsLogged: service.verdictsLogged,
    stagedFilesLeft,
  });
  const bySource: Record<string, number> = {};
  for (const job of traffic.submitted) bySource[job.kind] = (bySource[job.kind] ?? 0) + 1;
  const ok = report.failures.length === 0;
  const summary = {
    command: `npm run soak -- ${args.seconds ? `--seconds ${args.seconds}` : `--minutes ${args.minutes}`} --rate ${rate}${database ? ' --postgres' : ''} --fault-every ${args['fault-every']}`,
    startedAt: startedAt.toISOString(),
    store: database ? 'postgres' : 'sqlite',
    loadSeconds: durationMs / 1000,
    ratePerSecond: rate,
    jobsSubmitted: traffic.submitted.length,
    jobsSubmittedBySource: bySource,
    infectedInputs: traffic.submitted.filter((job) => job.infected).length,
    submissionsRefused: Object.fromEntries(traffic.refused),
    submissionsUnacknowledged: traffic.unacknowledged,
    faultsInjected: faults,
    serviceStarts: service.starts,
    verdictsDiscardedByFencing: service.discardedVerdicts,
    callbackAttempts: receiver.received.length,
    drainSeconds: Math.round(drainSeconds * 10) / 10,
    ...report,
    failures: report.failures.slice(0, 50),
    ok,
  };
  console.log(JSON.stringify(summary, null, 2));
  await mkdir(path.dirname(args.output), { recursive: true });
  await writeFile(args.output, `${JSON.stringify(summary, null, 2)}\n`);
  await files.close();
  await receiver.close();
  await database?.drop();
  if (ok && !args.keep) await rm(dataDir, { recursive: true, force: true });
  else log(`data directory kept: ${dataDir}`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);

import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Config } from '../config.ts';

interface HostPort {
  host: string;
  port: number;
}

function hostPortOf(url: string, defaultPort: number): HostPort | undefined {
  try {
    const parsed = new URL(url);
    if (!parsed.hostname) return undefined;
    return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port) || defaultPort };
  } catch {
    return undefined;
  }
}

/** clamd addresses are a socket path or host:port; only the latter can be reached by a URL. */
function clamdHostPort(address: string): HostPort | undefined {
  if (address.startsWith('/') || address.startsWith('unix:')) return undefined;
  const match = /^(?:tcp:\/\/)?\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  return match ? { host: match[1]!, port: Number(match[2]) } : undefined;
}

/**
 * scangate's own endpoints as egress must see them at this moment. The service replaces the list
 * (it never edits one it handed out) once the API listens and its port is known, so every reader
 * asks at use time instead of keeping a copy.
 */
export type DeniedEndpoints = () => readonly string[];

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

function localAddresses(): string[] {
  const addresses = ['127.0.0.0/8', '::1'];
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (!entry.address.includes('%')) addresses.push(entry.address);
  }
  return addresses;
}

function endpointText(address: string, port: number): string {
  return net.isIPv6(address.split('/')[0]!) ? `[${address}]:${port}` : `${address}:${port}`;
}

async function addressesOf(host: string): Promise<string[]> {
  if (WILDCARDS.has(host)) return localAddresses();
  if (net.isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true })).map((entry) => entry.address);
  } catch {
    return [];
  }
}

/**
 * The host:port pairs of scangate's own parts — its API, clamd, the database, Redis, the S3
 * endpoint — which a download or callback may never reach, even when an operator opens a private
 * range with NETWORK_ALLOW_CIDRS. Without this a tenant could aim requests at them from inside.
 */
export async function infrastructureEndpoints(config: Config, apiPort?: number): Promise<string[]> {
  const targets: HostPort[] = [];
  for (const address of config.engine.addresses) {
    const target = clamdHostPort(address);
    if (target) targets.push(target);
  }
  const database = config.store.databaseUrl && hostPortOf(config.store.databaseUrl, 5432);
  if (database) targets.push(database);
  const redis = config.rateLimit.redisUrl && hostPortOf(config.rateLimit.redisUrl, 6379);
  if (redis) targets.push(redis);
  const s3 =
    config.s3.endpoint && hostPortOf(config.s3.endpoint, config.s3.endpoint.startsWith('https') ? 443 : 80);
  if (s3) targets.push(s3);
  const port = apiPort ?? config.http.port;
  if (port > 0) targets.push({ host: config.http.host, port });

  const endpoints = new Set<string>();
  for (const target of targets) {
    for (const address of await addressesOf(target.host)) endpoints.add(endpointText(address, target.port));
  }
  return [...endpoints];
}

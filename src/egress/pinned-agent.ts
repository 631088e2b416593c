import dns from 'node:dns';
import net from 'node:net';
import type { Agent, buildConnector } from 'undici';
import { ScanGateError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { type AddressPolicy, classifyAddress } from './address-policy.ts';
import { loadHttpClient } from './http-client.ts';

/** Resolves a name to every address it has; tests inject one to play a hostile DNS. */
export type ResolveHost = (hostname: string, family: number) => Promise<dns.LookupAddress[]>;

export interface PinnedAgentOptions {
  policy: AddressPolicy;
  connectTimeoutMs: number;
  logger?: Logger;
  resolve?: ResolveHost;
  /** Idle keep-alive sockets live this long (undici's default is 4 s). */
  keepAliveTimeoutMs?: number;
  /** Happy Eyeballs (Node's default: on). Off makes net.connect ask the lookup for one address. */
  autoSelectFamily?: boolean;
}

const resolveWithSystem: ResolveHost = (hostname, family) =>
  dns.promises.lookup(hostname, { all: true, order: 'verbatim', family });

/**
 * An undici Agent that only dials addresses the policy allows. Each new connection resolves the
 * name once, refuses it if ANY answer is blocked (a name with one private record is hostile), and
 * hands exactly those validated addresses to net.connect — so a DNS answer that changes between
 * check and use (rebinding) cannot slip through. TLS still verifies against the host name.
 */
export async function createPinnedAgent(options: PinnedAgentOptions): Promise<Agent> {
  const { Agent, buildConnector } = await loadHttpClient();
  const resolve = options.resolve ?? resolveWithSystem;
  // One base connector per port: the lookup must know the port to refuse infra endpoints, and
  // buildConnector fixes its options when built (keeping its TLS session cache per connector).
  const connectors = new Map<number, buildConnector.connector>();

  const refuse = (host: string, reason: string, details: Record<string, unknown>): ScanGateError => {
    options.logger?.warn({ host, reason, ...details }, 'refused outbound connection (SSRF policy)');
    return new ScanGateError('blocked_destination', `refused to connect to ${host}: ${reason}`, {
      details: { host, reason },
    });
  };

  const lookupFor =
    (port: number): net.LookupFunction =>
    (hostname, lookupOptions, callback) => {
      resolve(
        hostname,
        lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : 0,
      ).then(
        (addresses) => {
          if (addresses.length === 0) {
            callback(refuse(hostname, 'the name has no address', {}), '', 0);
            return;
          }
          for (const { address } of addresses) {
            const decision = classifyAddress(address, options.policy, port);
            if (!decision.allowed) {
              const reason = `${hostname} resolves to ${decision.address} (${decision.range})`;
              callback(
                refuse(hostname, reason, { addresses: addresses.map((entry) => entry.address) }),
                '',
                0,
              );
              return;
            }
          }
          // Happy Eyeballs (autoSelectFamily) asks for every address; plain connects for one.
          if (lookupOptions.all) callback(null, addresses);
          else callback(null, addresses[0]!.address, addresses[0]!.family);
        },
        (error: NodeJS.ErrnoException) => callback(error, '', 0),
      );
    };

  const connectorFor = (port: number): buildConnector.connector => {
    let connector = connectors.get(port);
    if (!connector) {
      connector = buildConnector({
        timeout: options.connectTimeoutMs,
        lookup: lookupFor(port),
        ...(options.autoSelectFamily === undefined ? {} : { autoSelectFamily: options.autoSelectFamily }),
      });
      connectors.set(port, connector);
    }
    return connector;
  };

  const connect: buildConnector.connector = (connectOptions, callback) => {
    const port = Number(connectOptions.port) || (connectOptions.protocol === 'https:' ? 443 : 80);
    const host = connectOptions.hostname.replace(/^\[(.*)\]$/, '$1');
    // net.connect skips the lookup hook for IP literals: judge them here, before any packet.
    if (net.isIP(host) !== 0) {
      const decision = classifyAddress(host, options.policy, port);
      if (!decision.allowed) {
        callback(refuse(host, `${decision.address} is ${decision.range}`, {}), null);
        return;
      }
    }
    connectorFor(port)({ ...connectOptions, hostname: host }, (error, socket) => {
      if (error || !socket) {
        callback(error ?? new Error('connect failed'), null);
        return;
      }
      // Belt and braces: judge the address the kernel really connected to.
      const remote = socket.remoteAddress ?? '';
      const decision = classifyAddress(remote, options.policy, port);
      if (!decision.allowed) {
        socket.destroy();
        callback(refuse(host, `connected to ${remote} (${decision.range})`, {}), null);
        return;
      }
      callback(null, socket);
    });
  };

  return new Agent({
    connect,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
    // No pipelining: a refused or failed connection must not take other requests down with it.
    pipelining: 1,
  });
}

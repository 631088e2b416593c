import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { ScanGateError } from '../errors.ts';

/**
 * Which addresses downloads and callbacks may reach. Deny by default: only global unicast passes,
 * the operator opens chosen private ranges with allowCidrs, and a few destinations stay refused
 * whatever the allowlist says (unspecified, broadcast, multicast, cloud metadata, our own infra).
 */
export interface AddressPolicy {
  readonly allowed: readonly Cidr[];
  readonly deniedEndpoints: readonly DeniedEndpoint[];
}

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

interface DeniedEndpoint {
  cidr: Cidr;
  /** Undefined: every port of that address. */
  port: number | undefined;
}

export interface AddressPolicyOptions {
  /** config.network.allowCidrs: private or reserved ranges the operator opens on purpose. */
  allowCidrs?: readonly string[];
  /**
   * Endpoints refused even inside allowCidrs: the service's own listeners, clamd, the database,
   * Redis, the S3 endpoint. `ip`, `ip:port`, `[v6]:port` or `cidr`.
   */
  deniedEndpoints?: readonly string[];
}

export interface AddressDecision {
  allowed: boolean;
  /** The address as judged (an IPv4-mapped IPv6 address is judged as its IPv4 address). */
  address: string;
  /** ipaddr.js range name, or metadata / infrastructure / ipv4Compatible / invalid. */
  range: string;
}

/** Ranges no allowlist reopens: nothing legitimate listens there for us. */
const NEVER_ALLOWED_RANGES = new Set(['unspecified', 'broadcast', 'multicast', 'metadata', 'invalid']);

/** Cloud instance-metadata and platform endpoints (AWS, ECS, EKS, Alibaba, Azure WireServer). */
const METADATA_ADDRESSES = [
  '169.254.169.254',
  '169.254.170.2',
  '169.254.170.23',
  '100.100.100.200',
  '168.63.129.16',
  'fd00:ec2::254',
  'fd00:ec2::23',
].map((text) => ipaddr.parse(text));

/** 2000::/3 is the only IPv6 space IANA hands out as global unicast; anything else is special. */
const IPV6_GLOBAL_UNICAST: Cidr = ipaddr.parseCIDR('2000::/3');
/** Deprecated IPv4-compatible addresses (::a.b.c.d): some stacks still route them to IPv4. */
const IPV6_IPV4_COMPATIBLE: Cidr = ipaddr.parseCIDR('::/96');

export function createAddressPolicy(options: AddressPolicyOptions = {}): AddressPolicy {
  return {
    allowed: (options.allowCidrs ?? []).map((text) => parseCidr(text, 'allowCidrs')),
    deniedEndpoints: (options.deniedEndpoints ?? []).map(parseDeniedEndpoint),
  };
}

/** Judges one IP address (as dialled, or as written in a URL) against the policy. Pure. */
export function classifyAddress(input: string, policy: AddressPolicy, port?: number): AddressDecision {
  const text = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  // Zone ids (fe80::1%eth0) select an interface: refused as a class. net.isIP is strict (no
  // octal, hex or short IPv4 forms), so only canonical addresses reach ipaddr.js.
  if (text.includes('%') || net.isIP(text) === 0) return { allowed: false, address: text, range: 'invalid' };
  let address = ipaddr.parse(canonicalText(text));
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    address = (address as ipaddr.IPv6).toIPv4Address();
  }
  const range = rangeOf(address);
  const judged = address.toString();
  if (NEVER_ALLOWED_RANGES.has(range)) return { allowed: false, address: judged, range };
  for (const endpoint of policy.deniedEndpoints) {
    if (matches(address, endpoint.cidr) && (endpoint.port === undefined || endpoint.port === port)) {
      return { allowed: false, address: judged, range: 'infrastructure' };
    }
  }
  if (range === 'unicast') return { allowed: true, address: judged, range };
  const opened = policy.allowed.some((cidr) => matches(address, cidr));
  return { allowed: opened, address: judged, range };
}

/**
 * IPv6 text in hex-only form. ipaddr.js reads "::127.0.0.1" as IPv4-mapped (::ffff:7f00:1) while
 * it is the IPv4-compatible ::7f00:1, and glibc prints addresses that way; WHATWG's serialiser
 * gets it right.
 */
function canonicalText(text: string): string {
  if (net.isIPv4(text)) return text;
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

function rangeOf(address: ipaddr.IPv4 | ipaddr.IPv6): string {
  if (
    METADATA_ADDRESSES.some(
      (metadata) => metadata.kind() === address.kind() && sameAddress(metadata, address),
    )
  )
    return 'metadata';
  const range = address.range();
  if (address.kind() === 'ipv6' && range === 'unicast') {
    if (address.match(IPV6_IPV4_COMPATIBLE)) return 'ipv4Compatible';
    if (!address.match(IPV6_GLOBAL_UNICAST)) return 'reserved';
  }
  return range;
}

function sameAddress(a: ipaddr.IPv4 | ipaddr.IPv6, b: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return a.toNormalizedString() === b.toNormalizedString();
}

function matches(address: ipaddr.IPv4 | ipaddr.IPv6, cidr: Cidr): boolean {
  return address.kind() === cidr[0].kind() && address.match(cidr);
}

function parseCidr(text: string, what: string): Cidr {
  const [baseText = '', bitsText, extra] = text.trim().split('/');
  const family = net.isIP(baseText);
  const maxBits = family === 4 ? 32 : 128;
  const bits = bitsText === undefined ? maxBits : Number(bitsText);
  // net.isIP is strict, so "10.1/8" or "0x0a.0.0.0/8" are refused instead of guessed at.
  if (family === 0 || extra !== undefined || !/^\d{1,3}$/.test(bitsText ?? '0') || bits > maxBits) {
    throw new ScanGateError('invalid_request', `${what}: "${text}" is not an IP address or CIDR`);
  }
  const base = ipaddr.parse(canonicalText(baseText));
  // An IPv4-mapped CIDR (::ffff:10.0.0.0/104) means the IPv4 range: addresses are judged that way.
  if (base.kind() === 'ipv6' && (base as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(base as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [base, bits];
}

function parseDeniedEndpoint(text: string): DeniedEndpoint {
  const trimmed = text.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed);
  if (bracketed) return { cidr: parseCidr(bracketed[1]!, 'deniedEndpoints'), port: toPort(bracketed[2]) };
  const withPort = /^([0-9.]+(?:\/\d+)?):(\d+)$/.exec(trimmed);
  if (withPort) return { cidr: parseCidr(withPort[1]!, 'deniedEndpoints'), port: toPort(withPort[2]) };
  return { cidr: parseCidr(trimmed, 'deniedEndpoints'), port: undefined };
}

function toPort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ScanGateError('invalid_request', `deniedEndpoints: port "${text}" is out of range`);
  }
  return port;
}

import net from 'node:net';
import { ScanGateError } from '../errors.ts';
import { type AddressPolicy, classifyAddress } from './address-policy.ts';

const MAX_URL_LENGTH = 8192;

/**
 * The one URL syntax rule for everything scangate fetches or calls back: an absolute http or https
 * URL of at most 8 KiB, without credentials. Throws invalid_request naming the field.
 */
export function parseHttpUrl(raw: unknown, field = 'url'): URL {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_URL_LENGTH) {
    throw invalid(`${field} must be a URL of at most ${MAX_URL_LENGTH} characters`, field);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`${field} is not a valid URL`, field);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`${field} must use http or https, not ${url.protocol}`, field);
  }
  // Userinfo is the classic parser-confusion vector (http://evil@127.0.0.1/) and a credential leak.
  if (url.username !== '' || url.password !== '') {
    throw invalid(`${field} must not contain credentials (user:password@)`, field);
  }
  return url;
}

/**
 * Submit-time check of a download or callback URL: parseHttpUrl, then the host. Parsed with the
 * WHATWG URL parser, which turns 2130706433, 0x7f000001, 0177.0.0.1, 127.1 or ①②⑦.⓪.⓪.① into
 * 127.0.0.1, so the host judged here is the host that would be dialled. Only decides what it can
 * without DNS; names are judged again at connect time on the resolved address (pinned-agent.ts),
 * which is the check that counts.
 */
export function parseDestinationUrl(raw: unknown, policy: AddressPolicy, field = 'url'): URL {
  const url = parseHttpUrl(raw, field);
  const refusal = literalHostRefusal(url, policy);
  if (refusal) {
    throw new ScanGateError('blocked_destination', `${field} points at a refused address (${refusal})`, {
      details: { field, host: url.hostname },
    });
  }
  return url;
}

function invalid(message: string, field: string): ScanGateError {
  return new ScanGateError('invalid_request', message, { details: { field } });
}

/** Why the URL's host is refused without DNS, or undefined when only a lookup can tell. */
export function literalHostRefusal(url: URL, policy: AddressPolicy): string | undefined {
  const port = effectivePort(url);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (net.isIP(host) !== 0) {
    const decision = classifyAddress(host, policy, port);
    return decision.allowed ? undefined : `${decision.address} is ${decision.range}`;
  }
  // RFC 6761: every *.localhost name is loopback, whatever a resolver would say.
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) {
    const decision = classifyAddress('127.0.0.1', policy, port);
    return decision.allowed ? undefined : `${host} is loopback`;
  }
  return undefined;
}

export function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

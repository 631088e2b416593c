/** Where a clamd listens: a unix socket path or a TCP host and port. */
export type ClamdAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/**
 * Parses `/run/clamd.sock`, `unix:/run/clamd.sock`, `host:3310`, `tcp://host:3310`, `[::1]:3310`.
 * Throws on anything else, so a typo fails at start instead of at the first scan.
 */
export function parseClamdAddress(text: string): ClamdAddress {
  const value = text.trim();
  if (value.startsWith('unix:'))
    return { kind: 'unix', path: value.slice('unix:'.length).replace(/^\/\//, '') };
  if (value.startsWith('/') || value.startsWith('./') || value.startsWith('../'))
    return { kind: 'unix', path: value };
  const match = /^(?:tcp:\/\/)?(?:\[([0-9a-fA-F:.]+)\]|([^:/[\]]+)):(\d{1,5})\/?$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || !(port >= 1 && port <= 65535)) {
    throw new Error(`"${text}" is not a clamd address (use /path/to/clamd.sock or host:port)`);
  }
  return { kind: 'tcp', host: match[1] ?? match[2]!, port };
}

export function formatClamdAddress(address: ClamdAddress): string {
  if (address.kind === 'unix') return address.path;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ScanGateError } from '../errors.ts';
import type { ApiKeyRecord } from '../scan.ts';

export interface Tenant {
  id: string;
  /** Identifies the key that authenticated the request (never the key itself). */
  keyId: string;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new key: `sg_` + 32 random bytes, base64url — 256 bits, shown once, stored as its SHA-256. */
export function generateApiKey(): string {
  return `sg_${randomBytes(32).toString('base64url')}`;
}

interface ConfiguredKey {
  digest: Buffer;
  tenant: Tenant;
}

/** `tenant=key` names the tenant; a bare key gets a tenant derived from its hash. */
function parseConfiguredKey(entry: string): ConfiguredKey {
  const separator = entry.indexOf('=');
  const key = separator > 0 ? entry.slice(separator + 1) : entry;
  const hash = hashApiKey(key);
  const tenantId = separator > 0 ? entry.slice(0, separator) : `key-${hash.slice(0, 12)}`;
  return { digest: Buffer.from(hash, 'hex'), tenant: { id: tenantId, keyId: `config:${hash.slice(0, 12)}` } };
}

function presentedKey(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
    // Basic: the password is the key (the user name is free), for senders that can only put
    // credentials in a URL, such as SNS HTTP(S) subscriptions.
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    if (basic) {
      const credentials = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const key = credentials.slice(credentials.indexOf(':') + 1);
      if (credentials.includes(':') && key.length > 0) return key;
    }
  }
  const apiKey = request.headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.trim().length > 0) return apiKey.trim();
  return undefined;
}

/** Where keys created with `scangate keys create` are looked up (the store's KeyStore). */
export interface StoredKeys {
  findByHash(keyHash: string): Promise<ApiKeyRecord | undefined>;
}

/**
 * Keys from config and keys created with `scangate keys create` (in the store). Only SHA-256
 * digests are kept; config digests are all compared in constant time with no early exit, store
 * keys are found by their digest (a lookup, not a string comparison).
 */
export class ApiKeyAuthenticator {
  readonly #configured: ConfiguredKey[];
  readonly #storedKeys: StoredKeys;

  constructor(configuredKeys: string[], storedKeys: StoredKeys) {
    this.#configured = configuredKeys.map(parseConfiguredKey);
    this.#storedKeys = storedKeys;
  }

  async authenticate(request: FastifyRequest): Promise<Tenant> {
    const key = presentedKey(request);
    if (key === undefined)
      throw new ScanGateError('unauthorized', 'missing API key (Authorization: Bearer <key> or x-api-key)');
    const hash = hashApiKey(key);
    const digest = Buffer.from(hash, 'hex');
    let match: Tenant | undefined;
    for (const candidate of this.#configured) {
      if (timingSafeEqual(candidate.digest, digest)) match ??= candidate.tenant;
    }
    if (match) return match;
    const stored = await this.#storedKeys.findByHash(hash);
    if (stored && !stored.revokedAt) return { id: stored.tenantId, keyId: stored.id };
    throw new ScanGateError('unauthorized', 'invalid API key');
  }
}

import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  generateCallbackSigningKey,
  type PublishedPublicKey,
  publishedPublicKey,
} from '../attachmentav-signing.ts';
import type { Config } from '../config.ts';
import { ConfigError } from '../config.ts';
import type { KeyStore } from '../store/contracts.ts';

/**
 * Where the generated key is kept when no CALLBACK_RSA_KEY_FILE is configured: the per-tenant secret
 * table, under a name no tenant can have (configured tenants cannot start with "=", and
 * `keys create` allows letters, digits, ".", "_" and "-"). Every API and worker node sharing the
 * store then signs with, and publishes, the same key.
 */
const STORED_KEY_OWNER = '=scangate/attachmentav-callback-rsa-key';

export interface CallbackSigningKeys {
  privateKey: KeyObject;
  /** The current key first, then the previous ones still published. */
  published: PublishedPublicKey[];
}

export async function loadCallbackSigningKeys(
  callbacks: Config['callbacks'],
  keys: Pick<KeyStore, 'webhookSecret'>,
): Promise<CallbackSigningKeys> {
  const pem = callbacks.rsaPrivateKeyFile
    ? readKeyFile(callbacks.rsaPrivateKeyFile, 'CALLBACK_RSA_KEY_FILE')
    : await keys.webhookSecret(STORED_KEY_OWNER, generateCallbackSigningKey);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    throw new ConfigError(`CALLBACK_RSA_KEY_FILE: not a PEM private key: ${(error as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'rsa')
    throw new ConfigError('CALLBACK_RSA_KEY_FILE: attachmentAV callbacks are signed with an RSA key');
  const previous = callbacks.rsaPreviousPublicKeyFiles.map((file) => {
    try {
      return publishedPublicKey(
        createPublicKey(readKeyFile(file, 'CALLBACK_RSA_PREVIOUS_PUBLIC_KEYS')),
        false,
      );
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(
        `CALLBACK_RSA_PREVIOUS_PUBLIC_KEYS: ${file} is not a PEM key: ${(error as Error).message}`,
      );
    }
  });
  return { privateKey, published: [publishedPublicKey(privateKey, true), ...previous] };
}

function readKeyFile(file: string, variable: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${variable}: cannot read ${file}: ${(error as Error).message}`);
  }
}

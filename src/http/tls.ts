import { readFileSync } from 'node:fs';
import type { Config } from '../config.ts';
import { ScanGateError } from '../errors.ts';

export interface TlsServerOptions {
  cert: Buffer;
  key: Buffer;
  /** HTTP/1.1 clients are served on the same port; ALPN picks h2 for those that offer it. */
  allowHTTP1: true;
}

/**
 * Reads TLS_CERT_FILE and TLS_KEY_FILE and proves they form a usable pair before the server starts:
 * a bad file is a clear start-up error (`invalid_tls_certificate`), not a handshake failure later.
 */
export function loadTlsOptions(http: Config['http']): TlsServerOptions | undefined {
  if (!http.tlsCertFile || !http.tlsKeyFile) return undefined;
  const cert = readPem(http.tlsCertFile, 'TLS_CERT_FILE');
  const key = readPem(http.tlsKeyFile, 'TLS_KEY_FILE');
  try {
    // Looked up here, not imported: `tls` costs ~5 MiB of RSS once loaded, and only TLS needs it.
    process.getBuiltinModule('node:tls').createSecureContext({ cert, key });
  } catch (error) {
    throw new ScanGateError(
      'invalid_tls_certificate',
      `TLS_CERT_FILE ${http.tlsCertFile} and TLS_KEY_FILE ${http.tlsKeyFile} are not a usable PEM certificate and key: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { cert, key, allowHTTP1: true };
}

function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ScanGateError(
      'invalid_tls_certificate',
      `${variable}: cannot read ${file}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

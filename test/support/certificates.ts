import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * Writes a throwaway RSA key and self-signed certificate (valid one day) into `dir` with openssl,
 * as `key.pem` and `cert.pem`, and returns their paths.
 */
export function writeSelfSignedCertificate(
  dir: string,
  options: { commonName: string; subjectAltName?: string },
): { keyFile: string; certFile: string } {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${options.commonName}`,
      ...(options.subjectAltName ? ['-addext', `subjectAltName=${options.subjectAltName}`] : []),
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { keyFile, certFile };
}

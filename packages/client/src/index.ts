/**
 * scangate's typed Node client (`import { ScangateClient } from '@scangate/client'`).
 *
 *   const scangate = new ScangateClient({ baseUrl: 'http://127.0.0.1:8080', apiKey });
 *   const submitted = await scangate.scanFile('./upload.pdf');
 *   const result = await scangate.waitForResult(submitted.id);
 *   if (result.status !== 'clean') reject(result.finding ?? result.reason);
 */
export { ScangateClient, type ScangateClientOptions, type ScanInput } from './client.ts';
export { ScangateApiError } from './errors.ts';
export {
  type AttachmentAvVerification,
  type CallbackHeaders,
  type VerifyOptions,
  verifyCallbackSignature,
} from './signature.ts';
export type * from './types.ts';

import type { FastifyRequest } from 'fastify';
import { ScanGateError } from '../errors.ts';

/** A Host (or X-Forwarded-Host) value: a name or an address, and a port. Anything else is refused. */
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The absolute URL of one of our own paths, as the vendors' clients expect in Location
 * (`https://host/api/v1/scan/async/result?trace_id=…`). The configured PUBLIC_URL wins; without one
 * the request's scheme and Host are used, which fastify takes from X-Forwarded-Proto/-Host only
 * when HTTP_TRUST_PROXY is on.
 */
export function absoluteUrl(request: FastifyRequest, publicUrl: string, pathAndQuery: string): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '') + pathAndQuery;
  const host = request.host;
  if (!host || !HOST.test(host)) {
    throw new ScanGateError('invalid_request', 'the Host header is missing or not a valid host name', {
      details: { field: 'host' },
    });
  }
  return `${request.protocol}://${host}${pathAndQuery}`;
}

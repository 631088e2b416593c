import type { FastifyRequest } from 'fastify';

/** Query parameters whose values look like credentials: `?api_key=…`, `?token=…`, presigned URLs. */
const SECRET_PARAMETER = /key|token|secret|passw|auth|signature|credential|session|sig$/i;

/**
 * The request URL for logs, with the values of secret-looking query parameters replaced. Clients
 * do send API keys in query strings (some SDKs offer it); the request log must not keep them.
 */
export function redactedUrl(url: string): string {
  const queryAt = url.indexOf('?');
  if (queryAt === -1) return url;
  const parts = url
    .slice(queryAt + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const name = equals === -1 ? pair : pair.slice(0, equals);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // An undecodable name is judged as written.
      }
      return equals !== -1 && SECRET_PARAMETER.test(decoded) ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, queryAt)}?${parts.join('&')}`;
}

/** fastify's default request serializer, with the URL redacted. */
export function serializeRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactedUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

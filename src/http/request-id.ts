import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ScanJob } from '../scan.ts';

/** What an incoming X-Request-Id may be to be kept: short, and safe in logs and headers. */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * The request id: the caller's X-Request-Id when it is a sane token (so a proxy's or client's id
 * follows the request through our logs), otherwise a fresh UUID.
 */
export function requestIdFor(raw: IncomingMessage | { headers: IncomingMessage['headers'] }): string {
  const incoming = raw.headers['x-request-id'];
  const value = Array.isArray(incoming) ? incoming[0] : incoming;
  return value && REQUEST_ID.test(value) ? value : crypto.randomUUID();
}

/** Every answer names the request id it was logged under. */
export function echoRequestId(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
}

/** The one log line that ties a request (requestId, from the request logger) to the job it created. */
export function logSubmitted(request: FastifyRequest, job: ScanJob): void {
  request.log.info(
    {
      jobId: job.id,
      tenantId: job.tenantId,
      dialect: job.dialect,
      source: job.source.kind,
      traceId: job.traceId,
    },
    'scan submitted',
  );
}

import type { FastifyInstance } from 'fastify';

/**
 * The vendors answer `Content-Type: application/json` with no parameters, and some clients of theirs
 * compare the header as a string. fastify adds `; charset=utf-8`: strip it in these dialects only.
 * Runs for error answers of the plugin's routes too.
 */
export function answerExactJsonContentType(plugin: FastifyInstance): void {
  plugin.addHook('onSend', async (_request, reply, payload) => {
    const type = reply.getHeader('content-type');
    if (typeof type === 'string' && /^application\/json\s*;/i.test(type))
      reply.header('content-type', 'application/json');
    return payload;
  });
}

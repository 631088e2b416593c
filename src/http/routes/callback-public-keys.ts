import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { PublishedPublicKey } from '../../attachmentav-signing.ts';

const tags = ['attachmentAV'];

/**
 * The public keys that verify attachmentAV-style callback signatures. Public by nature: served
 * without an API key, so a receiver can fetch them once at deploy time. During a rotation the
 * previous keys stay listed (not current) until every callback signed with them is delivered.
 */
export function callbackPublicKeyRoutes(keys: readonly PublishedPublicKey[]): FastifyPluginAsync {
  const current = keys.find((key) => key.current)!;
  return async (app) => {
    app.get(
      '/v1/callback/public-key',
      {
        schema: {
          tags,
          operationId: 'callbackPublicKey',
          summary: 'The PEM public key that verifies x-signature on callbacks now',
          security: [],
          produces: ['application/x-pem-file'],
          response: { 200: { type: 'string', description: 'PEM (SPKI) public key' } },
        },
      },
      async (_request, reply) =>
        reply
          .header('content-type', 'application/x-pem-file')
          .header('x-key-id', current.id)
          .send(current.pem),
    );
    app.get(
      '/v1/callback/public-keys',
      {
        schema: {
          tags,
          operationId: 'callbackPublicKeys',
          summary: 'Every published callback public key: the current one and those kept during a rotation',
          security: [],
          response: {
            200: Type.Object({
              keys: Type.Array(
                Type.Object({ id: Type.String(), pem: Type.String(), current: Type.Boolean() }),
              ),
            }),
          },
        },
      },
      async () => ({ keys }),
    );
  };
}

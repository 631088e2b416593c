import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { DEFAULT_POLICY, isDefaultPolicy, parsePolicy, policyDocument } from '../../policy/policy.ts';
import type { RouteContext } from '../route-context.ts';
import { ErrorResponse } from '../schemas.ts';

const tags = ['native'];

const PolicyView = Type.Object({
  block: Type.Array(Type.String()),
  allowed_types: Type.Union([Type.Array(Type.String()), Type.Null()]),
  max_archive_members: Type.Union([Type.Integer(), Type.Null()]),
  default: Type.Boolean({ description: 'true when this is the default policy (blocks nothing)' }),
});

/**
 * The tenant's content policy (docs/POLICY.md). Any key of the tenant may read and set it: it only
 * ever makes that tenant's own scans stricter or looser, and applies to jobs submitted afterwards.
 */
export function policyRoutes(context: RouteContext): FastifyPluginAsync {
  return async (plugin) => {
    const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
    const { scans } = context;

    const view = async (tenantId: string) => {
      const policy = (await scans.tenantPolicy(tenantId)) ?? DEFAULT_POLICY;
      return { ...policyDocument(policy), default: isDefaultPolicy(policy) };
    };

    app.get(
      '/v1/policy',
      {
        schema: {
          tags,
          summary: "The tenant's content policy",
          response: { 200: PolicyView, 401: ErrorResponse },
        },
      },
      async (request) => view(request.tenant.id),
    );

    app.put(
      '/v1/policy',
      {
        schema: {
          tags,
          summary:
            "Replace the tenant's content policy (a preset name or {preset?, block, allowed_types, max_archive_members})",
          body: Type.Union([Type.String({ maxLength: 64 }), Type.Record(Type.String(), Type.Unknown())]),
          response: { 200: PolicyView, 400: ErrorResponse, 401: ErrorResponse },
        },
      },
      async (request) => {
        const policy = parsePolicy(request.body);
        await scans.setTenantPolicy(request.tenant.id, policy);
        request.log.info(
          { tenant: request.tenant.id, policy: policyDocument(policy) },
          'content policy changed',
        );
        return view(request.tenant.id);
      },
    );
  };
}

import type { FastifyRequest } from 'fastify';
import { ScanGateError } from '../errors.ts';

/** Any dialect may narrow the tenant's content policy per request with this header. */
export const POLICY_HEADER = 'x-scangate-policy';

/**
 * The content policy a request asks for, unparsed (ScanService checks it against the tenant's):
 * the native body's `policy` field, else the `X-Scangate-Policy` header. Both take a preset name
 * (`strict`) or a policy document as JSON; a form field is text, so it is read like the header.
 */
export function requestedPolicy(request: FastifyRequest, bodyPolicy?: unknown): unknown {
  if (bodyPolicy !== undefined) return typeof bodyPolicy === 'string' ? policyText(bodyPolicy) : bodyPolicy;
  const header = request.headers[POLICY_HEADER];
  if (header === undefined) return undefined;
  if (Array.isArray(header)) throw new ScanGateError('invalid_request', `send one ${POLICY_HEADER} header`);
  return policyText(header);
}

function policyText(text: string): unknown {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return trimmed;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    throw new ScanGateError('invalid_request', 'the policy is neither a preset name nor valid JSON');
  }
}

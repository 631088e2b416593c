import { AjvCompiler } from '@fastify/ajv-compiler';
import type { FastifySchemaCompiler } from 'fastify';

interface ValidatorFactoryOptions {
  customOptions?: Record<string, unknown>;
  [option: string]: unknown;
}
type ValidatorFactory = (
  externalSchemas: Record<string, unknown>,
  options?: ValidatorFactoryOptions,
) => FastifySchemaCompiler<unknown>;

/**
 * Validators that coerce types only where HTTP has no types. A query string or path parameter is
 * always text, so `limit=10` must become 10; a JSON body states its types, and a client that sends
 * `trace_id: 12345`, `custom_data: true` or `url: ["…"]` sent something else than the contract
 * says: that is a 400, not a value quietly turned into the right type.
 */
export function buildValidatorsWithStrictBodies(): ReturnType<typeof AjvCompiler> {
  // @fastify/ajv-compiler's typings describe the compiler as taking a schema; at run time (and in
  // fastify's own typings) it takes the route definition, httpPart included.
  const lenient = AjvCompiler() as unknown as ValidatorFactory;
  const strict = AjvCompiler() as unknown as ValidatorFactory;
  const factory: ValidatorFactory = (externalSchemas, options = {}) => {
    const forText = lenient(externalSchemas, options);
    const forBody = strict(externalSchemas, {
      ...options,
      customOptions: { ...options.customOptions, coerceTypes: false },
    });
    return (route) => (route.httpPart === 'body' ? forBody(route) : forText(route));
  };
  return factory as unknown as ReturnType<typeof AjvCompiler>;
}

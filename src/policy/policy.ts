import { ScanGateError } from '../errors.ts';
import { FILE_TYPES, type FileType } from './file-type.ts';

/** The switches of a content policy: each one, when listed in `block`, refuses that kind of content. */
export const POLICY_SWITCHES = [
  'executables',
  'scripts',
  'macros',
  'encrypted',
  'html',
  'invalid',
  'unsafe_archives',
  'xml_external_entities',
] as const;
export type PolicySwitch = (typeof POLICY_SWITCHES)[number];

/** A rule a blocked verdict names: one of the switches, or `file_type` (not in allowed_types). */
export type PolicyRule = PolicySwitch | 'file_type';

/**
 * What a tenant (or one request) refuses besides malware. `allowedTypes` and `maxArchiveMembers`
 * are undefined when unrestricted. The default policy blocks nothing: today's behaviour.
 */
export interface ContentPolicy {
  block: PolicySwitch[];
  allowedTypes?: FileType[];
  maxArchiveMembers?: number;
}

export const DEFAULT_POLICY: ContentPolicy = { block: [] };

/** "strict uploads": what a public upload form usually wants. Documented in docs/POLICY.md. */
export const STRICT_POLICY: ContentPolicy = {
  block: [...POLICY_SWITCHES],
  // In FILE_TYPES order: parsed policies list types in that order, so equal policies compare equal.
  allowedTypes: [
    'pdf',
    'png',
    'jpeg',
    'gif',
    'webp',
    'zip',
    'docx',
    'xlsx',
    'pptx',
    'odt',
    'ods',
    'odp',
    'csv',
    'text',
  ],
  maxArchiveMembers: 1000,
};

export const POLICY_PRESETS = { default: DEFAULT_POLICY, strict: STRICT_POLICY } as const;
export type PolicyPreset = keyof typeof POLICY_PRESETS;

/** The JSON shape of a policy in the API, the CLI and the store. */
export interface PolicyDocument {
  preset?: PolicyPreset;
  block?: string[];
  allowed_types?: string[] | null;
  max_archive_members?: number | null;
}

function invalid(message: string): ScanGateError {
  return new ScanGateError('invalid_request', `invalid policy: ${message}`);
}

/**
 * Reads a policy document: a preset (optional) that the other fields then replace. Unknown fields,
 * switches and types are refused, so a typo never silently allows something.
 */
export function parsePolicy(input: unknown): ContentPolicy {
  if (typeof input === 'string') input = { preset: input };
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw invalid('expected an object');
  const document = input as Record<string, unknown>;
  for (const key of Object.keys(document)) {
    if (!['preset', 'block', 'allowed_types', 'max_archive_members'].includes(key))
      throw invalid(`unknown field "${key}"`);
  }
  let policy: ContentPolicy = { block: [] };
  if (document.preset !== undefined) {
    if (typeof document.preset !== 'string' || !Object.hasOwn(POLICY_PRESETS, document.preset))
      throw invalid(`preset must be one of ${Object.keys(POLICY_PRESETS).join(', ')}`);
    policy = clonePolicy(POLICY_PRESETS[document.preset as PolicyPreset]);
  }
  if (document.block !== undefined) policy.block = parseList(document.block, POLICY_SWITCHES, 'block');
  if (document.allowed_types === null) delete policy.allowedTypes;
  else if (document.allowed_types !== undefined)
    policy.allowedTypes = parseList(document.allowed_types, FILE_TYPES, 'allowed_types');
  if (document.max_archive_members === null) delete policy.maxArchiveMembers;
  else if (document.max_archive_members !== undefined) {
    const max = document.max_archive_members;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 1_000_000)
      throw invalid('max_archive_members must be an integer from 1 to 1000000');
    policy.maxArchiveMembers = max;
  }
  return policy;
}

function parseList<T extends string>(value: unknown, known: readonly T[], field: string): T[] {
  if (!Array.isArray(value)) throw invalid(`${field} must be a list`);
  const items = new Set<T>();
  for (const item of value) {
    if (typeof item !== 'string' || !(known as readonly string[]).includes(item))
      throw invalid(`${field}: unknown value ${JSON.stringify(item)} (known: ${known.join(', ')})`);
    items.add(item as T);
  }
  // Canonical order, so equal policies serialize equally.
  return known.filter((item) => items.has(item));
}

export function clonePolicy(policy: ContentPolicy): ContentPolicy {
  const copy: ContentPolicy = { block: [...policy.block] };
  if (policy.allowedTypes) copy.allowedTypes = [...policy.allowedTypes];
  if (policy.maxArchiveMembers !== undefined) copy.maxArchiveMembers = policy.maxArchiveMembers;
  return copy;
}

/** A policy as the API shows it: every field present, null where unrestricted. */
export function policyDocument(policy: ContentPolicy): {
  block: string[];
  allowed_types: string[] | null;
  max_archive_members: number | null;
} {
  return {
    block: [...policy.block],
    allowed_types: policy.allowedTypes ? [...policy.allowedTypes] : null,
    max_archive_members: policy.maxArchiveMembers ?? null,
  };
}

export function isDefaultPolicy(policy: ContentPolicy): boolean {
  return policy.block.length === 0 && !policy.allowedTypes && policy.maxArchiveMembers === undefined;
}

/** Where `requested` is wider than `tenant` (empty when it is as strict or stricter everywhere). */
export function wideningOf(requested: ContentPolicy, tenant: ContentPolicy): string[] {
  const problems: string[] = [];
  for (const rule of tenant.block) {
    if (!requested.block.includes(rule)) problems.push(`allows ${rule}, which the tenant blocks`);
  }
  if (tenant.allowedTypes) {
    if (!requested.allowedTypes) problems.push('allows every file type; the tenant restricts them');
    else {
      const extra = requested.allowedTypes.filter((type) => !tenant.allowedTypes!.includes(type));
      if (extra.length > 0) problems.push(`allows file types the tenant does not: ${extra.join(', ')}`);
    }
  }
  if (tenant.maxArchiveMembers !== undefined) {
    if (requested.maxArchiveMembers === undefined || requested.maxArchiveMembers > tenant.maxArchiveMembers)
      problems.push(`allows more than the tenant's ${tenant.maxArchiveMembers} archive members`);
  }
  return problems;
}

/**
 * The policy in force for one request: the tenant's, or the request's when it sends one, which may
 * only be narrower. Fields the request leaves out are the tenant's.
 */
export function effectivePolicy(tenant: ContentPolicy, requested: unknown): ContentPolicy {
  if (requested === undefined) return clonePolicy(tenant);
  const document = typeof requested === 'string' ? { preset: requested } : requested;
  const base = policyDocument(tenant);
  const merged =
    typeof document === 'object' && document !== null && !Array.isArray(document)
      ? 'preset' in document
        ? document
        : { ...base, ...document }
      : document;
  const policy = parsePolicy(merged);
  const widening = wideningOf(policy, tenant);
  if (widening.length > 0) {
    throw new ScanGateError(
      'policy_wider_than_tenant',
      `the request's policy is wider than the tenant's: ${widening.join('; ')}`,
      { details: { widening } },
    );
  }
  return policy;
}

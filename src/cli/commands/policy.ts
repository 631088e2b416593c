import type { Command } from 'commander';
import { isDefaultPolicy, type PolicyDocument, parsePolicy, policyDocument } from '../../policy/policy.ts';
import { tenantName, withStore } from './tenant-store.ts';

interface PolicyOptions {
  preset?: string;
  block?: string;
  allowedTypes?: string;
  maxArchiveMembers?: string;
  json?: boolean;
}

const list = (text: string): string[] =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/** The document the options describe; undefined when they change nothing (show only). */
function documentFrom(options: PolicyOptions): PolicyDocument | undefined {
  const document: Record<string, unknown> = {};
  if (options.preset !== undefined) document.preset = options.preset;
  if (options.block !== undefined) document.block = list(options.block);
  if (options.allowedTypes !== undefined)
    document.allowed_types = options.allowedTypes === 'any' ? null : list(options.allowedTypes);
  if (options.maxArchiveMembers !== undefined)
    document.max_archive_members =
      options.maxArchiveMembers === 'any' ? null : Number(options.maxArchiveMembers);
  return Object.keys(document).length === 0 ? undefined : (document as PolicyDocument);
}

/**
 * `scangate keys policy <tenant> [--preset strict] [--block a,b] [--allowed-types pdf,png|any]
 * [--max-archive-members N|any]`: shows or replaces a tenant's content policy (docs/POLICY.md).
 * Options replace the whole policy (a preset, then the fields given); jobs submitted afterwards use it.
 */
export function registerPolicyCommand(keys: Command): void {
  keys
    .command('policy')
    .description("show or set a tenant's content policy (what is blocked besides malware)")
    .argument('<tenant>', 'the tenant', tenantName)
    .option('--preset <name>', 'start from a preset: default (blocks nothing) or strict ("strict uploads")')
    .option(
      '--block <switches>',
      'comma-separated: executables, scripts, macros, encrypted, html, invalid, unsafe_archives, xml_external_entities',
    )
    .option('--allowed-types <types>', 'comma-separated true file types (pdf,png,docx,…) or "any"')
    .option('--max-archive-members <n>', 'most zip members allowed, or "any"')
    .option('--json', 'print the policy as JSON')
    .action(async (tenant: string, options: PolicyOptions) => {
      const document = documentFrom(options);
      const policy = await withStore(async (store) => {
        if (document) {
          const parsed = parsePolicy(document);
          await store.policies.set(tenant, isDefaultPolicy(parsed) ? undefined : parsed);
        }
        return store.policies.get(tenant);
      });
      const view = policy ? policyDocument(policy) : policyDocument({ block: [] });
      if (options.json) {
        console.log(JSON.stringify({ tenant, ...view }, null, 2));
        return;
      }
      console.log(`tenant:              ${tenant}${policy ? '' : ' (default policy)'}`);
      console.log(`blocks:              ${view.block.join(', ') || 'nothing besides malware'}`);
      console.log(`allowed types:       ${view.allowed_types?.join(', ') ?? 'any'}`);
      console.log(`max archive members: ${view.max_archive_members ?? 'any'}`);
    });
}

import type { Verdict } from '../engine/verdict.ts';
import { contradictsExtension, printable } from './file-type.ts';
import type { ContentFinding, ContentInspection } from './inspector.ts';
import { type ContentPolicy, isDefaultPolicy, type PolicyRule } from './policy.ts';

/** The finding name a blocked verdict shows in the vendor dialects (bucketAV `finding`). */
export const POLICY_FINDING: Record<PolicyRule, string> = {
  executables: 'Policy.Executable',
  scripts: 'Policy.Script',
  macros: 'Policy.Macro',
  encrypted: 'Policy.Encrypted',
  html: 'Policy.HTML',
  invalid: 'Policy.InvalidFile',
  unsafe_archives: 'Policy.UnsafeArchive',
  xml_external_entities: 'Policy.XMLExternalEntity',
  file_type: 'Policy.RestrictedFileType',
};

/** Which refused finding names the verdict when there are several: the most dangerous first. */
const RULE_ORDER: ContentFinding['rule'][] = [
  'executables',
  'macros',
  'scripts',
  'encrypted',
  'unsafe_archives',
  'xml_external_entities',
  'html',
];

export interface PolicyJudgement {
  verdict: Verdict;
  /** The name the file was submitted under (upload filename, URL path, S3 key), if any. */
  declaredName?: string;
  content?: ContentInspection;
}

function blocked(rule: PolicyRule, evidence: string): Verdict {
  return { status: 'blocked', rule, finding: POLICY_FINDING[rule], evidence: `${rule}: ${evidence}` };
}

function baseName(name: string | undefined): string | undefined {
  const base = name?.split(/[\\/]/).pop();
  return base ? printable(base) : undefined;
}

/**
 * Applies a content policy to clamd's verdict and the content inspection of the same bytes. Pure.
 * Malware always wins: `infected` stays infected. An unscannable verdict stays unscannable (the file
 * was not fully judged), except encrypted content under a policy that blocks `encrypted`. Only a
 * clean verdict can become `blocked`.
 */
export function judgeContent(judgement: PolicyJudgement, policy: ContentPolicy): Verdict {
  const { verdict, content, declaredName } = judgement;
  if (verdict.status === 'infected' || verdict.status === 'blocked') return verdict;
  if (verdict.status === 'unscannable') {
    if (verdict.reason === 'encrypted' && policy.block.includes('encrypted'))
      return blocked('encrypted', `clamd reports ${verdict.finding ?? 'encrypted content'}`);
    return verdict;
  }
  if (isDefaultPolicy(policy)) return verdict;
  if (!content || content.failed) {
    // Fail closed: a policy that cannot be checked does not let the file through.
    return {
      status: 'unscannable',
      reason: 'engine_error',
      detail: 'the content policy could not be checked (no content inspection)',
    };
  }
  for (const rule of RULE_ORDER) {
    const finding = content.findings.find((candidate) => candidate.rule === rule);
    if (finding && policy.block.includes(rule)) {
      const where = finding.member
        ? ` at member ${baseName(declaredName) ?? 'archive'}/${finding.member}`
        : '';
      return blocked(rule, `${finding.detail}${where}`);
    }
  }
  if (policy.block.includes('invalid') && contradictsExtension(declaredName, content.detectedType)) {
    return blocked(
      'invalid',
      `declared ${JSON.stringify(baseName(declaredName))}, content is ${content.typeLabel}`,
    );
  }
  if (policy.allowedTypes && !policy.allowedTypes.includes(content.detectedType)) {
    return blocked('file_type', `${content.typeLabel} (${content.detectedType}) is not an allowed type`);
  }
  if (content.incomplete !== undefined) {
    // Nothing refused was seen, but not every member was: the policy cannot call it clean (the
    // rules above read only the file itself, which was fully seen).
    return {
      status: 'unscannable',
      reason: 'limits_exceeded',
      detail: `the content policy could not judge every archive member (${content.incomplete})`,
    };
  }
  if (
    policy.maxArchiveMembers !== undefined &&
    content.archiveMembers !== undefined &&
    content.archiveMembers > policy.maxArchiveMembers
  ) {
    return blocked(
      'unsafe_archives',
      `${content.archiveMembers} archive members, more than the ${policy.maxArchiveMembers} allowed`,
    );
  }
  return verdict;
}

/** The name a source declares for its content: the upload's filename, the URL's or S3 key's last segment. */
export function declaredNameOf(
  source: { kind: 'upload'; filename?: string } | { kind: 'url'; url: string } | { kind: 's3'; key: string },
): string | undefined {
  switch (source.kind) {
    case 'upload':
      return source.filename || undefined;
    case 's3':
      return baseName(source.key);
    case 'url': {
      try {
        return baseName(decodeURIComponent(new URL(source.url).pathname));
      } catch {
        return undefined;
      }
    }
  }
}

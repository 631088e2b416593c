import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ScanGateError } from '../../src/errors.ts';
import type { ContentInspection } from '../../src/policy/inspector.ts';
import { declaredNameOf, judgeContent } from '../../src/policy/judge.ts';
import {
  DEFAULT_POLICY,
  effectivePolicy,
  parsePolicy,
  policyDocument,
  STRICT_POLICY,
  wideningOf,
} from '../../src/policy/policy.ts';

const zipWithExe: ContentInspection = {
  detectedType: 'zip',
  typeLabel: 'ZIP',
  archiveMembers: 2,
  findings: [{ rule: 'executables', detail: 'PE32', member: 'setup.exe' }],
};

describe('content policy documents', () => {
  it('reads presets and fields, refusing unknown names', () => {
    assert.deepEqual(parsePolicy('strict'), STRICT_POLICY);
    assert.deepEqual(parsePolicy({}), DEFAULT_POLICY);
    assert.deepEqual(parsePolicy({ block: ['macros', 'executables', 'macros'] }), {
      block: ['executables', 'macros'],
    });
    assert.deepEqual(parsePolicy({ preset: 'strict', allowed_types: null, max_archive_members: null }), {
      block: STRICT_POLICY.block,
    });
    for (const bad of [
      { block: ['exe'] },
      { allowed_types: ['docm'] },
      { max_archive_members: 0 },
      { colour: 1 },
      7,
    ]) {
      assert.throws(
        () => parsePolicy(bad),
        (error: ScanGateError) => error.code === 'invalid_request',
      );
    }
    assert.deepEqual(parsePolicy(policyDocument(STRICT_POLICY)), STRICT_POLICY);
  });

  it('lets a request narrow the tenant policy and refuses widening with a stable code', () => {
    const tenant = parsePolicy({
      block: ['executables'],
      allowed_types: ['pdf', 'png'],
      max_archive_members: 10,
    });
    assert.deepEqual(effectivePolicy(tenant, undefined), tenant);
    // Fields a request leaves out are the tenant's.
    assert.deepEqual(effectivePolicy(tenant, { block: ['executables', 'macros'] }).allowedTypes, [
      'pdf',
      'png',
    ]);
    assert.deepEqual(effectivePolicy(tenant, { allowed_types: ['pdf'] }).allowedTypes, ['pdf']);
    for (const wider of [
      { block: [] },
      { allowed_types: ['pdf', 'zip'] },
      { max_archive_members: 11 },
      'default',
    ]) {
      assert.throws(
        () => effectivePolicy(tenant, wider),
        (error: ScanGateError) => error.code === 'policy_wider_than_tenant',
        JSON.stringify(wider),
      );
    }
    assert.deepEqual(wideningOf(STRICT_POLICY, DEFAULT_POLICY), []);
    assert.equal(wideningOf(DEFAULT_POLICY, STRICT_POLICY).length, STRICT_POLICY.block.length + 2);
  });
});

describe('judging clamd verdicts with a content policy', () => {
  it('blocks with rule and evidence only what the policy refuses, and malware always wins', () => {
    const clean = { status: 'clean' as const };
    assert.deepEqual(
      judgeContent({ verdict: clean, content: zipWithExe, declaredName: 'in/invoices.zip' }, STRICT_POLICY),
      {
        status: 'blocked',
        rule: 'executables',
        finding: 'Policy.Executable',
        evidence: 'executables: PE32 at member invoices.zip/setup.exe',
      },
    );
    assert.deepEqual(judgeContent({ verdict: clean, content: zipWithExe }, DEFAULT_POLICY), clean);
    assert.deepEqual(judgeContent({ verdict: clean, content: zipWithExe }, { block: ['macros'] }), clean);
    const infected = { status: 'infected' as const, finding: 'Eicar-Signature.UNOFFICIAL' };
    assert.deepEqual(judgeContent({ verdict: infected, content: zipWithExe }, STRICT_POLICY), infected);
  });

  it('turns encrypted from unscannable into blocked only when the policy blocks it', () => {
    const encrypted = {
      status: 'unscannable' as const,
      reason: 'encrypted' as const,
      finding: 'Heuristics.Encrypted.Zip',
    };
    assert.equal(judgeContent({ verdict: encrypted }, STRICT_POLICY).status, 'blocked');
    assert.deepEqual(judgeContent({ verdict: encrypted }, DEFAULT_POLICY), encrypted);
    const tooLarge = { status: 'unscannable' as const, reason: 'too_large' as const };
    assert.deepEqual(judgeContent({ verdict: tooLarge }, STRICT_POLICY), tooLarge);
  });

  it('judges the declared name against the detected type, then the allowed types and member count', () => {
    const zip: ContentInspection = {
      detectedType: 'zip',
      typeLabel: 'ZIP',
      archiveMembers: 1001,
      findings: [],
    };
    const clean = { status: 'clean' as const };
    assert.equal(
      judgeContent({ verdict: clean, content: zip, declaredName: 'photo.png' }, STRICT_POLICY).evidence,
      'invalid: declared "photo.png", content is ZIP',
    );
    assert.equal(
      judgeContent({ verdict: clean, content: zip, declaredName: 'a.zip' }, STRICT_POLICY).rule,
      'unsafe_archives',
    );
    const elf: ContentInspection = { detectedType: 'rar', typeLabel: 'RAR', findings: [] };
    assert.equal(judgeContent({ verdict: clean, content: elf }, STRICT_POLICY).rule, 'file_type');
    // No inspection to go by: a policy cannot be checked, so the file does not pass.
    assert.equal(judgeContent({ verdict: clean }, STRICT_POLICY).status, 'unscannable');
  });

  it('an inspection that did not reach every member is unscannable under a policy, unless something refused was seen', () => {
    const clean = { status: 'clean' as const };
    const deep: ContentInspection = {
      detectedType: 'zip',
      typeLabel: 'ZIP',
      archiveMembers: 1,
      findings: [],
      incomplete: 'l17.zip: archives nested deeper than 17 levels',
    };
    assert.deepEqual(judgeContent({ verdict: clean, content: deep }, STRICT_POLICY), {
      status: 'unscannable',
      reason: 'limits_exceeded',
      detail:
        'the content policy could not judge every archive member (l17.zip: archives nested deeper than 17 levels)',
    });
    assert.deepEqual(judgeContent({ verdict: clean, content: deep }, DEFAULT_POLICY), clean);
    const refused = {
      ...deep,
      findings: [{ rule: 'executables' as const, detail: 'PE32', member: 'a.exe' }],
    };
    assert.equal(judgeContent({ verdict: clean, content: refused }, STRICT_POLICY).rule, 'executables');
    const gzip = { ...deep, detectedType: 'gzip' as const, typeLabel: 'gzip' };
    assert.equal(judgeContent({ verdict: clean, content: gzip }, STRICT_POLICY).rule, 'file_type');
  });

  it('takes the declared name from the source', () => {
    assert.equal(declaredNameOf({ kind: 'url', url: 'https://x.test/a/b%20c.pdf?q=1' }), 'b c.pdf');
    assert.equal(declaredNameOf({ kind: 's3', key: 'in/2026/file.docx' }), 'file.docx');
    assert.equal(declaredNameOf({ kind: 'upload', filename: 'cv.pdf' }), 'cv.pdf');
    assert.equal(declaredNameOf({ kind: 'url', url: 'https://x.test/' }), undefined);
  });
});

import { ScanGateError } from '../errors.ts';
import { unsupportedFormatOf } from './unsupported-formats.ts';
import { unscannable, type Verdict } from './verdict.ts';

export interface VerdictPolicy {
  /** clamd's AlertEncrypted reports encrypted archives as a detection; we choose what that means. */
  encryptedVerdict: 'unscannable' | 'infected';
}

const LIMITS_PREFIX = 'Heuristics.Limits.Exceeded.';
const ENCRYPTED_PREFIX = 'Heuristics.Encrypted.';

/**
 * Maps clamd's reply to one INSTREAM to a verdict. Fail closed: only the exact `stream: OK`, for a
 * stream sent to its end, is clean. An engine failure throws a retryable ScanGateError instead of
 * answering a verdict.
 */
export function verdictFromReply(rawReply: string, policy: VerdictPolicy, streamComplete = true): Verdict {
  const reply = rawReply.replace(/[\0\n]+$/, '').trim();
  if (reply === 'stream: OK') {
    // OK for a stream clamd did not receive to its end does not cover every byte.
    if (!streamComplete) {
      throw new ScanGateError('engine_error', 'clamd answered OK before the end of the stream', {
        retryable: true,
      });
    }
    return { status: 'clean' };
  }

  const found = /^stream: (.+) FOUND$/.exec(reply);
  if (found) return verdictForFinding(found[1]!, policy);

  // StreamMaxLength: clamd refuses the stream at the chunk header that would cross the limit.
  if (/size limit exceeded\. ERROR$/.test(reply)) {
    return unscannable('too_large', 'clamd refused the stream: larger than its StreamMaxLength');
  }
  if (reply === 'COMMAND READ TIMED OUT') {
    throw new ScanGateError('engine_timeout', 'clamd timed out waiting for stream data (its ReadTimeout)', {
      retryable: true,
    });
  }
  if (/ ERROR$/.test(reply)) {
    throw new ScanGateError('engine_error', `clamd answered an error: ${reply}`, {
      retryable: true,
      details: { reply },
    });
  }
  throw new ScanGateError('engine_error', `unexpected clamd reply: ${JSON.stringify(reply.slice(0, 200))}`, {
    retryable: true,
    details: { reply: reply.slice(0, 200) },
  });
}

function verdictForFinding(finding: string, policy: VerdictPolicy): Verdict {
  if (finding.startsWith(LIMITS_PREFIX)) {
    const limit = finding.slice(LIMITS_PREFIX.length);
    // MaxFileSize means the input (or a member) is larger than clamd may scan: a size problem.
    if (limit === 'MaxFileSize')
      return { ...unscannable('too_large', `clamd limit exceeded: ${limit}`), finding };
    return { ...unscannable('limits_exceeded', `clamd limit exceeded: ${limit}`), finding };
  }
  if (finding.startsWith(ENCRYPTED_PREFIX)) {
    if (policy.encryptedVerdict === 'infected') return { status: 'infected', finding };
    return { ...unscannable('encrypted', 'encrypted content cannot be scanned'), finding };
  }
  // scangate's own signatures for formats clamd cannot read (see unsupported-formats.ts). They are
  // heuristics to clamd, reported only when no real signature matched, so infected still wins.
  const format = unsupportedFormatOf(finding);
  if (format !== undefined) {
    return { ...unscannable('unsupported_format', `${format}: a format clamd cannot read`), finding };
  }
  // Signature names are kept as clamd reports them, `.UNOFFICIAL` suffix included.
  return { status: 'infected', finding };
}

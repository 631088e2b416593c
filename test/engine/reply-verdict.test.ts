import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { verdictFromReply } from '../../src/engine/reply-verdict.ts';
import { ScanGateError } from '../../src/errors.ts';

const unscannablePolicy = { encryptedVerdict: 'unscannable' } as const;
const infectedPolicy = { encryptedVerdict: 'infected' } as const;

function assertEngineError(reply: string, code: string, streamComplete = true): void {
  assert.throws(
    () => verdictFromReply(reply, unscannablePolicy, streamComplete),
    (error: unknown) => error instanceof ScanGateError && error.code === code && error.retryable,
  );
}

describe('verdictFromReply', () => {
  test('stream: OK is clean', () => {
    assert.deepEqual(verdictFromReply('stream: OK', unscannablePolicy), { status: 'clean' });
    assert.deepEqual(verdictFromReply('stream: OK\0', unscannablePolicy), { status: 'clean' });
  });

  test('OK before the end of the stream was sent is an engine error, never clean', () => {
    assertEngineError('stream: OK', 'engine_error', false);
  });

  test('a signature keeps its name as clamd reports it, .UNOFFICIAL included', () => {
    assert.deepEqual(verdictFromReply('stream: Eicar-Signature.UNOFFICIAL FOUND', unscannablePolicy), {
      status: 'infected',
      finding: 'Eicar-Signature.UNOFFICIAL',
    });
    assert.deepEqual(verdictFromReply('stream: Win.Test.EICAR_HDB-1 FOUND', unscannablePolicy), {
      status: 'infected',
      finding: 'Win.Test.EICAR_HDB-1',
    });
  });

  test('a name with spaces is kept whole', () => {
    const verdict = verdictFromReply('stream: Some Odd Name FOUND', unscannablePolicy);
    assert.equal(verdict.finding, 'Some Odd Name');
  });

  test('MaxFileSize is too_large; other limits are limits_exceeded', () => {
    const tooLarge = verdictFromReply(
      'stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND',
      unscannablePolicy,
    );
    assert.equal(tooLarge.status, 'unscannable');
    assert.equal(tooLarge.reason, 'too_large');
    assert.equal(tooLarge.finding, 'Heuristics.Limits.Exceeded.MaxFileSize');
    for (const limit of ['MaxScanSize', 'MaxRecursion', 'MaxFiles', 'MaxScanTime']) {
      const verdict = verdictFromReply(
        `stream: Heuristics.Limits.Exceeded.${limit} FOUND`,
        unscannablePolicy,
      );
      assert.equal(verdict.status, 'unscannable', limit);
      assert.equal(verdict.reason, 'limits_exceeded', limit);
      assert.equal(verdict.finding, `Heuristics.Limits.Exceeded.${limit}`);
    }
  });

  test('encrypted content follows the policy', () => {
    for (const kind of ['Zip', '7Zip', 'RAR', 'PDF']) {
      const reply = `stream: Heuristics.Encrypted.${kind} FOUND`;
      const unscannable = verdictFromReply(reply, unscannablePolicy);
      assert.equal(unscannable.status, 'unscannable');
      assert.equal(unscannable.reason, 'encrypted');
      assert.equal(unscannable.finding, `Heuristics.Encrypted.${kind}`);
      assert.deepEqual(verdictFromReply(reply, infectedPolicy), {
        status: 'infected',
        finding: `Heuristics.Encrypted.${kind}`,
      });
    }
  });

  test("scangate's own unsupported-format findings are unscannable, naming the format", () => {
    for (const format of ['Zip64', 'RAR', 'Zstandard']) {
      const finding = `Heuristics.Scangate.Unsupported.${format}.UNOFFICIAL`;
      const verdict = verdictFromReply(`stream: ${finding} FOUND`, unscannablePolicy);
      assert.equal(verdict.status, 'unscannable');
      assert.equal(verdict.reason, 'unsupported_format');
      assert.equal(verdict.finding, finding);
      assert.match(verdict.detail ?? '', new RegExp(`^${format}: `));
      // Whatever the encrypted policy says: an unread format is never a detection.
      assert.equal(verdictFromReply(`stream: ${finding} FOUND`, infectedPolicy).status, 'unscannable');
    }
    // A real signature is never mistaken for one, even with a similar name.
    assert.equal(
      verdictFromReply('stream: Scangate.Unsupported.RAR.UNOFFICIAL FOUND', unscannablePolicy).status,
      'infected',
    );
  });

  test("clamd's StreamMaxLength refusal is too_large", () => {
    const verdict = verdictFromReply('INSTREAM size limit exceeded. ERROR', unscannablePolicy);
    assert.equal(verdict.status, 'unscannable');
    assert.equal(verdict.reason, 'too_large');
    // Also when clamd answered before the end of the stream (it always does, for this one).
    assert.equal(
      verdictFromReply('INSTREAM size limit exceeded. ERROR\0', unscannablePolicy, false).reason,
      'too_large',
    );
  });

  test('any other ERROR is a retryable engine_error', () => {
    assertEngineError("stream: Can't allocate memory ERROR", 'engine_error');
    assertEngineError('Command invalid inside IDSESSION. ERROR', 'engine_error');
  });

  test("clamd's read timeout is a retryable engine_timeout", () => {
    assertEngineError('COMMAND READ TIMED OUT', 'engine_timeout');
  });

  test('anything unexpected is an engine_error, never clean', () => {
    for (const reply of [
      '',
      'UNKNOWN COMMAND',
      'stream: ok',
      'stream: OK extra',
      'PONG',
      'stream:  FOUND',
      'OK',
    ]) {
      assertEngineError(reply, 'engine_error');
    }
  });
});

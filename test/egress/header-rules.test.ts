import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateCallbackHeaders, validateDownloadHeaders } from '../../src/egress/header-rules.ts';
import { isScanGateError, type ScanGateError } from '../../src/errors.ts';

function rejectsNaming(fn: () => unknown, header: string | undefined): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isScanGateError(error));
    assert.equal((error as ScanGateError).code, 'invalid_request');
    if (header !== undefined) {
      assert.equal((error as ScanGateError).details?.header, header);
      assert.ok((error as Error).message.includes(header), (error as Error).message);
    }
    return true;
  });
}

describe('validateCallbackHeaders', () => {
  test('keeps ordinary headers, trimmed', () => {
    assert.deepEqual(validateCallbackHeaders({ ' Authorization ': ' Bearer abc ', 'X-Tenant': 'a-1' }), {
      Authorization: 'Bearer abc',
      'X-Tenant': 'a-1',
    });
    assert.deepEqual(validateCallbackHeaders(undefined), {});
  });

  const denied = [
    'Host',
    'TRANSFER-ENCODING',
    'Connection',
    'Keep-Alive',
    'Upgrade',
    'Expect',
    'TE',
    'Trailer',
    'Proxy-Authorization',
    'proxy-connection',
    'Content-Encoding',
    'webhook-id',
    'Webhook-Timestamp',
    'WEBHOOK-SIGNATURE',
    'User-Agent',
    'X-Forwarded-For',
    'Forwarded',
  ];
  for (const name of denied) {
    test(`refuses ${name}, in any case and with spaces`, () => {
      rejectsNaming(() => validateCallbackHeaders({ [name]: 'x' }), name);
      rejectsNaming(() => validateCallbackHeaders({ [`  ${name.toLowerCase()} `]: 'x' }), name.toLowerCase());
    });
  }

  test('ignores Content-Type and Content-Length, which scangate always sets (bucketAV: "cannot be changed")', () => {
    assert.deepEqual(
      validateCallbackHeaders({ 'Content-Type': 'text/plain', ' content-length ': '5', 'X-Keep': 'yes' }),
      { 'X-Keep': 'yes' },
    );
  });

  test('refuses header injection and control characters in values', () => {
    for (const value of ['b\r\nHost: evil', 'b\nX: y', 'b\0', 'b\r\n', 'caf\u00e9', '\u2028']) {
      rejectsNaming(() => validateCallbackHeaders({ 'X-A': value }), 'X-A');
    }
  });

  test('refuses names that are not RFC 9110 tokens, and non-string values', () => {
    rejectsNaming(() => validateCallbackHeaders({ 'X A': 'b' }), 'X A');
    rejectsNaming(() => validateCallbackHeaders({ 'X:A': 'b' }), 'X:A');
    rejectsNaming(() => validateCallbackHeaders({ '': 'b' }), '');
    rejectsNaming(() => validateCallbackHeaders({ 'X-A': 5 }), 'X-A');
    rejectsNaming(() => validateCallbackHeaders('Host: x'), undefined);
    rejectsNaming(() => validateCallbackHeaders(['a']), undefined);
  });

  test('refuses the same name twice in different case', () => {
    rejectsNaming(() => validateCallbackHeaders({ 'X-A': '1', 'x-a': '2' }), 'x-a');
  });

  test('refuses more than 20 headers and more than 8 KiB', () => {
    const twenty = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`X-H${i}`, 'v']));
    assert.equal(Object.keys(validateCallbackHeaders(twenty)).length, 20);
    rejectsNaming(() => validateCallbackHeaders({ ...twenty, 'X-H20': 'v' }), undefined);
    // name (5) + ": " + CRLF (4) + value = exactly 8192 bytes is accepted; one more byte is not.
    assert.doesNotThrow(() => validateCallbackHeaders({ 'X-Big': 'a'.repeat(8192 - 9) }));
    rejectsNaming(() => validateCallbackHeaders({ 'X-Big': 'a'.repeat(8192 - 8) }), 'X-Big');
  });
});

describe('validateDownloadHeaders', () => {
  test('allows what a download needs, including Authorization, Cookie and User-Agent', () => {
    const headers = {
      Authorization: 'Bearer x',
      Cookie: 'a=b',
      'User-Agent': 'client/1',
      'Content-Type': 'x/y',
    };
    assert.deepEqual(validateDownloadHeaders(headers), headers);
  });

  test('refuses framing, routing and encoding headers', () => {
    for (const name of [
      'Host',
      'Content-Length',
      'Transfer-Encoding',
      'Connection',
      'Proxy-Authorization',
      'Accept-Encoding',
      'Range',
    ]) {
      rejectsNaming(() => validateDownloadHeaders({ [name]: 'x' }), name);
    }
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyAddress, createAddressPolicy } from '../../src/egress/address-policy.ts';
import { parseDestinationUrl } from '../../src/egress/destination-url.ts';
import { isScanGateError } from '../../src/errors.ts';

const closed = createAddressPolicy();

describe('classifyAddress with the allowlist closed', () => {
  const refused: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.254', 'carrierGradeNat'],
    ['169.254.169.254', 'metadata'],
    ['169.254.1.1', 'linkLocal'],
    ['100.100.100.200', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['198.18.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.51.100.1', 'reserved'],
    ['203.0.113.1', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::127.0.0.1', 'ipv4Compatible'],
    ['64:ff9b::7f00:1', 'rfc6052'],
    ['64:ff9b:1::a00:1', 'rfc6052'],
    ['2002:7f00:1::1', '6to4'],
    ['2001:0:1::1', 'teredo'],
    ['fc00::1', 'uniqueLocal'],
    ['fd00:ec2::254', 'metadata'],
    ['fe80::1', 'linkLocal'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['ff02::1', 'multicast'],
    ['100::1', 'discard'],
    ['2001:db8::1', 'reserved'],
    ['3fff::1', 'reserved'],
    ['5f00::1', 'segmentRouting'],
    ['4000::1', 'reserved'],
  ];
  for (const [address, range] of refused) {
    test(`refuses ${address} (${range})`, () => {
      const decision = classifyAddress(address, closed);
      assert.equal(decision.allowed, false);
      assert.equal(decision.range, range);
    });
  }

  for (const address of [
    '172.15.255.255',
    '172.32.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '8.8.8.8',
    '2606:4700::1111',
  ]) {
    test(`allows the public neighbour ${address}`, () => {
      assert.equal(classifyAddress(address, closed).allowed, true);
    });
  }

  test('refuses what is not a canonical address instead of guessing', () => {
    for (const input of [
      '0177.0.0.1',
      '0x7f000001',
      '2130706433',
      '127.1',
      'fe80::1%eth0',
      '',
      'localhost',
    ]) {
      assert.equal(classifyAddress(input, closed).allowed, false, input);
    }
  });

  test('accepts bracketed IPv6 as undici hands it over', () => {
    assert.equal(classifyAddress('[::1]', closed).range, 'loopback');
  });
});

describe('allowlist', () => {
  test('opens exactly the listed range', () => {
    const policy = createAddressPolicy({ allowCidrs: ['192.168.0.120/32', '127.0.0.0/8'] });
    assert.equal(classifyAddress('192.168.0.120', policy).allowed, true);
    assert.equal(classifyAddress('192.168.0.121', policy).allowed, false);
    assert.equal(classifyAddress('127.0.0.2', policy).allowed, true);
    assert.equal(classifyAddress('::ffff:127.0.0.2', policy).allowed, true);
    assert.equal(classifyAddress('10.0.0.1', policy).allowed, false);
    assert.equal(classifyAddress('::1', policy).allowed, false);
  });

  test('never reopens metadata, unspecified, multicast or broadcast', () => {
    const policy = createAddressPolicy({
      allowCidrs: ['169.254.0.0/16', '0.0.0.0/8', '224.0.0.0/4', '255.255.255.255/32', 'fd00::/8'],
    });
    assert.equal(classifyAddress('169.254.1.1', policy).allowed, true);
    for (const address of ['169.254.169.254', '0.0.0.0', '224.0.0.1', '255.255.255.255', 'fd00:ec2::254']) {
      assert.equal(classifyAddress(address, policy).allowed, false, address);
    }
  });

  test('denied endpoints win over the allowlist, per port when a port is given', () => {
    const policy = createAddressPolicy({
      allowCidrs: ['10.0.0.0/8'],
      deniedEndpoints: ['10.0.0.5:3310', '10.0.0.6', '[fd12::1]:5432', '203.0.113.0/24'],
    });
    assert.equal(classifyAddress('10.0.0.5', policy, 3310).range, 'infrastructure');
    assert.equal(classifyAddress('10.0.0.5', policy, 80).allowed, true);
    assert.equal(classifyAddress('10.0.0.6', policy, 80).allowed, false);
    assert.equal(classifyAddress('8.8.8.8', policy, 80).allowed, true);
  });

  test('refuses malformed CIDRs at construction', () => {
    for (const cidr of ['10.1/8', '0x0a.0.0.0/8', '10.0.0.0/33', 'example.com/8', '10.0.0.0/8/8']) {
      assert.throws(() => createAddressPolicy({ allowCidrs: [cidr] }), isScanGateError, cidr);
    }
  });
});

describe('parseDestinationUrl (submit time)', () => {
  const blocked = [
    'http://127.0.0.1/',
    'http://127.1/',
    'http://127.0.1/',
    'http://127.000.000.001/',
    'http://0177.0.0.1/',
    'http://0x7f.0.0.1/',
    'http://0x7f.1/',
    'http://0x7f000001/',
    'http://2130706433/',
    'http://017700000001/',
    'http://%31%32%37.0.0.1/',
    'http://①②⑦.⓪.⓪.①/',
    'http://0/',
    'http://0.0.0.0/',
    'http://0x0/',
    'http://localhost/',
    'http://LOCALHOST./',
    'http://localhost:22/',
    'http://app.localhost/',
    'http://[::1]/',
    'http://[0:0:0:0:0:0:0:1]/',
    'http://[::]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[0:0:0:0:0:ffff:127.0.0.1]:9100/',
    'http://[::127.0.0.1]/',
    'http://[64:ff9b::7f00:1]/',
    'http://[2002:7f00:1::1]/',
    'http://[fd00:ec2::254]/',
    'http://[fe80::1]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://169.254.169.254/latest/meta-data/',
    'http://0xA9FEA9FE/',
    'http://0xA9.0xFE.0xA9.0xFE/',
    'http://0251.0376.0251.0376/',
    'http://2852039166/',
    'http://100.100.100.200/',
    'http://10.0.0.1/',
    'http://172.16.0.1/',
    'http://192.168.1.1:9000/',
    'http://100.64.0.1/',
    'HTTP://127.0.0.1/',
    '\t http://127.0.0.1/ ',
    'http:/\\/127.0.0.1/',
    'http:127.0.0.1/',
  ];
  for (const url of blocked) {
    test(`refuses ${JSON.stringify(url)} as blocked_destination`, () => {
      assert.throws(
        () => parseDestinationUrl(url, closed),
        (error: unknown) => isScanGateError(error) && error.code === 'blocked_destination',
      );
    });
  }

  const invalid = [
    'http://425.510.425.510/',
    'http://0x41414141A9FEA9FE/',
    'http://[fe80::1%25eth0]/',
    'http://localhost:+11211aaa',
    'http://evil.example@127.0.0.1/',
    'http://127.1.1.1:80@127.2.2.2:80/',
    "http://-.~_!$&'()*+,;=:%40:80%2f::::::@127.0.0.1/",
    'file:///etc/passwd',
    'gopher://127.0.0.1:6379/_INFO',
    'dict://127.0.0.1:11211/',
    'ftp://example.com/',
    'ws://example.com/',
    'data:text/plain,hi',
    'javascript:alert(1)',
    '0://evil.com:80;http://google.com:80/',
    'not a url',
  ];
  for (const url of invalid) {
    test(`refuses ${JSON.stringify(url)} as invalid_request`, () => {
      assert.throws(
        () => parseDestinationUrl(url, closed),
        (error: unknown) => isScanGateError(error) && error.code === 'invalid_request',
      );
    });
  }

  test('a fragment cannot smuggle a host: http://127.0.0.1#@evil.example/ dials 127.0.0.1', () => {
    assert.throws(() => parseDestinationUrl('http://127.0.0.1#@evil.example/', closed), isScanGateError);
  });

  test('names are left to the connect-time check; public literals pass', () => {
    assert.equal(parseDestinationUrl('https://example.com/file.pdf', closed).hostname, 'example.com');
    assert.equal(parseDestinationUrl('http://8.8.8.8:8080/x', closed).port, '8080');
  });

  test('the allowlist opens loopback for tests', () => {
    const open = createAddressPolicy({ allowCidrs: ['127.0.0.0/8'] });
    assert.equal(parseDestinationUrl('http://127.0.0.1:9/x', open).hostname, '127.0.0.1');
    assert.equal(parseDestinationUrl('http://localhost:9/x', open).hostname, 'localhost');
  });
});
